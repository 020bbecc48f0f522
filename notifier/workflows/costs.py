"""What the messages of a period cost, per channel, and what the channels that are not SMS saved against
sending the same messages by SMS (issue 17 builds budgets on these figures).

Costs come from `notifications.cost_vnd`, written when a message is sent from the channel's `price_vnd`
(per part on an SMS channel). A message that went by Zalo (OA or ZNS), e-mail or Telegram would have cost,
by SMS, the SMS channel's price per part times the average parts of the SMS actually sent in the period
(1 when none was): an estimate, said so in the output.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from notifier.rules.outbox_status import SENT_STATUSES
from notifier.store.models import Notification
from notifier.workflows.reports import Period, span_period
from notifier.workflows.service import Service


@dataclass(frozen=True)
class ChannelCost:
    channel: str
    sms: bool  # an SMS channel (template family "sms")
    messages: int
    priced: int  # messages with a recorded cost
    cost_vnd: int
    parts: int  # SMS parts (SMS channels only)


@dataclass(frozen=True)
class CostSummary:
    period: Period
    channels: list[ChannelCost]
    sms_price_vnd: int | None  # per part: the SMS channel's price_vnd (the first SMS channel of the route)
    average_parts: float
    saved_vnd: int | None  # None: no SMS price to compare with

    @property
    def total_vnd(self) -> int:
        return sum(c.cost_vnd for c in self.channels)


def dong(amount: int) -> str:
    """1500000 -> "1.500.000 đồng"."""
    return f"{amount:,}".replace(",", ".") + " đồng"


def _is_sms(service: Service, name: str) -> bool:
    try:
        return service.channels.get(name).channel_type == "sms"
    except Exception:  # a channel no longer configured: its old rows are shown, not classified
        return False


def _sms_price(service: Service) -> int | None:
    for name in service.settings.routing.citizen:
        table = service.settings.channels.get(name, {})
        if _is_sms(service, name) and table.get("price_vnd") is not None:
            return int(table["price_vnd"])
    for name, table in service.settings.channels.items():
        if _is_sms(service, name) and table.get("price_vnd") is not None:
            return int(table["price_vnd"])
    return None


def cost_summary(service: Service, from_: str, to: str) -> CostSummary:
    """Sent messages between two days (both included; dd/mm/yyyy or yyyy-mm-dd)."""
    period = span_period(from_, to)
    with service.factory() as session:
        rows = session.execute(
            select(
                Notification.channel,
                func.count(),
                func.count(Notification.cost_vnd),
                func.coalesce(func.sum(Notification.cost_vnd), 0),
                func.coalesce(func.sum(Notification.segments), 0),
            )
            .where(
                Notification.status.in_(SENT_STATUSES),
                Notification.sent_at >= period.start_at,
                Notification.sent_at < period.end_at,
                Notification.channel.is_not(None),
                Notification.is_test.is_(False),
            )
            .group_by(Notification.channel)
            .order_by(Notification.channel)
        ).all()
    channels = [
        ChannelCost(str(name), _is_sms(service, str(name)), n, priced, int(cost or 0), int(parts or 0))
        for name, n, priced, cost, parts in rows
    ]
    sms_sent = [c for c in channels if c.sms]
    sms_messages = sum(c.messages for c in sms_sent)
    average = (sum(c.parts for c in sms_sent) / sms_messages) if sms_messages else 1.0
    price = _sms_price(service)
    saved = None
    if price is not None:
        others = [c for c in channels if not c.sms]
        saved = round(sum(c.messages for c in others) * price * average) - sum(c.cost_vnd for c in others)
    return CostSummary(period, channels, price, round(average, 2), saved)
