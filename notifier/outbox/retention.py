"""Personal-data retention (Law 91/2025, see [privacy]): drop message bodies and recipients when unneeded.

Finished notifications (rules.outbox_status.FINAL_STATUSES: nothing more will happen to them) older than
the retention period keep their kind, channel, status, segments and times (what the reports count), and
lose the text and the address.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import case, select, update
from sqlalchemy.orm import Session

from notifier.rules.outbox_status import FINAL_STATUSES
from notifier.store.models import DeliveryAttempt, Notification, affected

PURGED = "[đã xoá theo thời hạn lưu trữ]"


def purge(session: Session, now: datetime, days: int) -> int:
    cutoff = now - timedelta(days=days)
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
