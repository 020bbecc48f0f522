"""Personal-data retention (Law 91/2025, see [privacy]): drop message bodies and recipients when unneeded.

Finished notifications (rules.outbox_status.FINAL_STATUSES: nothing more will happen to them) older than
the retention period keep their kind, channel, status, segments and times (what the reports count), and
lose the text and the address.

What citizens sent goes after the same period: an SMS (inbound_messages) keeps its channel, provider id,
command and time and loses its sender, text and our reply; a Zalo OA webhook event (zalo_inbox) that was
applied keeps its ids, name, times, tries and outcome and loses its body (the text, the shared name and
phone) and its follower. The rows stay so a provider's late retry is still recognised as a repeat; an
event not applied yet is left alone.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnClause, String, Text, case, literal_column, select, update
from sqlalchemy.orm import Session

from notifier.rules.outbox_status import FINAL_STATUSES
from notifier.store.models import DeliveryAttempt, InboundMessage, Notification, ZaloInboxEvent, affected

PURGED = "[đã xoá theo thời hạn lưu trữ]"
# What an emptied row holds (as an erasure leaves it), written as literals so the planner can use the
# partial indexes of migration 0033 (a bound parameter does not prove a partial index's condition).
NO_SENDER: ColumnClause[str] = literal_column("''", String())
NO_BODY: ColumnClause[str] = literal_column("'{}'", Text())


def purge(session: Session, now: datetime, days: int) -> int:
    """Erase what is past the retention period; returns how many notifications were emptied."""
    cutoff = now - timedelta(days=days)
    _purge_received(session, cutoff)
    finished = (Notification.status.in_(FINAL_STATUSES), Notification.updated_at < cutoff)
    # A failed row never had a text or an address of its own, but its attempts hold the address tried,
    # and an error may name it ("+84… opted out of sms", a provider quoting the number).
    ids = select(Notification.id).where(*finished).scalar_subquery()
    session.execute(
        update(DeliveryAttempt)
        .where(
            DeliveryAttempt.notification_id.in_(ids),
            DeliveryAttempt.recipient.is_not(None)
            | (DeliveryAttempt.error.is_not(None) & (DeliveryAttempt.error != PURGED)),
        )
        .values(recipient=None, error=case((DeliveryAttempt.error.is_(None), None), else_=PURGED))
    )
    result = session.execute(
        update(Notification)
        .where(
            *finished,
            Notification.body.is_not(None)
            | Notification.recipient.is_not(None)
            | (Notification.error.is_not(None) & (Notification.error != PURGED)),
        )
        .values(body=None, subject=None, recipient=None, payload=None, error=PURGED)
    )
    return affected(result)


def _purge_received(session: Session, cutoff: datetime) -> None:
    """What citizens sent us. An SMS is answered as it is logged; a Zalo event only once applied."""
    session.execute(
        update(InboundMessage)
        .where(InboundMessage.received_at < cutoff, InboundMessage.sender != NO_SENDER)
        .values(sender="", body=PURGED, reply=None)
        .execution_options(synchronize_session=False)
    )
    # processed_at < cutoff: never an event still waiting to be applied (processed_at is empty until then).
    session.execute(
        update(ZaloInboxEvent)
        .where(ZaloInboxEvent.processed_at < cutoff, ZaloInboxEvent.body != NO_BODY)
        .values(
            body="{}",
            user_id=None,
            error=case((ZaloInboxEvent.error.is_(None), None), else_=PURGED),
        )
        .execution_options(synchronize_session=False)
    )
