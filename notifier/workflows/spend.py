"""What each agency spent this month per channel against its budget, for the dashboard and `/metrics`.

The dashboard reads the month's sent messages themselves (every agency that spent anything, capped or
not); `/metrics` reads the dispatcher's counters (`spend_months`, one row per agency and channel with a
budget that a citizen message has tried this month), which are what the cap is enforced on and cheap to
read at every scrape. Both count the same thing: `notifications.cost_vnd` of the messages sent this month,
about the agency's dossiers or to its officers.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from notifier.config import SpendSettings
from notifier.outbox.spend import spent_query
from notifier.rules.spend import SpendState, Standing, month_bounds, month_key, month_label
from notifier.store.models import Agency, Dossier, Notification, Officer, SpendMonth


@dataclass(frozen=True)
class SpendLine:
    agency_code: str
    agency_name: str
    channel: str
    spent_vnd: int
    budget_vnd: int  # 0: no cap
    warn_percent: int

    @property
    def capped(self) -> bool:
        return self.budget_vnd > 0

    @property
    def percent(self) -> float | None:
        return Standing(self.spent_vnd, self.budget_vnd, self.warn_percent).percent if self.capped else None

    @property
    def state(self) -> SpendState | None:
        """ok, warned (past `warn_percent`) or capped; None when the channel has no budget."""
        return Standing(self.spent_vnd, self.budget_vnd, self.warn_percent).state if self.capped else None


@dataclass(frozen=True)
class MonthSpend:
    month: str  # YYYY-MM
    lines: list[SpendLine]

    @property
    def label(self) -> str:
        return month_label(self.month)


def month_spend(
    session: Session, settings: SpendSettings, now: datetime, agency_ids: Collection[int] | None = None
) -> MonthSpend:
    """This month's spend per agency and channel, from the messages sent; `agency_ids`: only these (None:
    every agency). Agencies with a budget of their own appear even before they spend anything."""
    start, end = month_bounds(now)
    agency = func.coalesce(Dossier.agency_id, Officer.agency_id)
    stmt = (
        spent_query(start, end)
        .add_columns(agency, Notification.channel)
        .where(agency.is_not(None), Notification.cost_vnd.is_not(None))
        .group_by(agency, Notification.channel)
    )
    if agency_ids is not None:
        stmt = stmt.where(agency.in_(list(agency_ids)))
    spent: dict[tuple[int, str], int] = {
        (int(agency_id), str(channel)): int(total or 0) for total, agency_id, channel in session.execute(stmt)
    }
    own = select(Agency.id, Agency.code, Agency.name).where(Agency.code.in_(list(settings.agencies)))
    if agency_ids is not None:
        own = own.where(Agency.id.in_(list(agency_ids)))
    for agency_id, code, _ in session.execute(own):
        for channel, budget in settings.agencies.get(code, {}).items():
            if budget > 0:
                spent.setdefault((agency_id, channel), 0)
    names = {a.id: a for a in session.scalars(select(Agency).where(Agency.id.in_({a for a, _ in spent})))}
    lines = [
        SpendLine(
            names[a].code,
            names[a].name,
            channel,
            amount,
            settings.budget_for(names[a].code, channel),
            settings.warn_percent,
        )
        for (a, channel), amount in spent.items()
    ]
    lines.sort(key=lambda line: (line.agency_name, line.agency_code, line.channel))
    return MonthSpend(month_key(now), lines)


def counters(session: Session, settings: SpendSettings, now: datetime) -> list[SpendLine]:
    """The dispatcher's counters of this month (agencies and channels with a budget)."""
    rows = session.execute(
        select(SpendMonth.channel, SpendMonth.spent_vnd, Agency.code, Agency.name)
        .join(Agency, Agency.id == SpendMonth.agency_id)
        .where(SpendMonth.month == month_key(now))
        .order_by(Agency.code, SpendMonth.channel)
    )
    return [
        SpendLine(code, name, channel, int(spent), settings.budget_for(code, channel), settings.warn_percent)
        for channel, spent, code, name in rows
    ]
