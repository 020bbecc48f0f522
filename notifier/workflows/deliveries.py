"""The delivery log's one change: "Gửi lại", putting a failed notification back in the queue.

The row is moved by a compare-and-set on its status (only a status the transition table lets an operator
requeue), so two clicks, or a click racing a receipt, requeue it at most once; its attempts count starts
again and its earlier attempts stay in `delivery_attempts`, numbered on. The portal hears of the change
(`queue_changes`) and the audit trail keeps who did it and what the row held before, in the same transaction.
"""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.orm import aliased

from notifier.outbox.callbacks import queue_changes
from notifier.rules.outbox_status import NotificationStatus, can_move
from notifier.store import audit
from notifier.store.models import Dossier, Notification, Officer, affected
from notifier.workflows.errors import NotFound, WrongState
from notifier.workflows.service import Service

# The statuses an operator may put back in the queue: every one the transition table moves to `queued`,
# except `sending`, which only the dispatcher moves (an expired lease, a deferral).
RETRYABLE: tuple[NotificationStatus, ...] = tuple(
    s
    for s in NotificationStatus
    if s is not NotificationStatus.SENDING and can_move(s, NotificationStatus.QUEUED)
)

_Owner = aliased(Officer)


def retry_notification(service: Service, notification_id: int, actor: str, agency_id: int | None) -> None:
    """Requeue notification `notification_id` for `actor`; `agency_id` limits it to that agency's rows
    (None: every agency, a province admin). NotFound for a row outside it, WrongState if not failed."""
    now = service.clock.now()
    with service.factory() as session, session.begin():
        q = (
            select(Notification)
            .outerjoin(Dossier, Dossier.id == Notification.dossier_id)
            .outerjoin(_Owner, _Owner.id == Notification.officer_id)
            .where(Notification.id == notification_id)
        )
        if agency_id is not None:
            q = q.where(func.coalesce(Dossier.agency_id, _Owner.agency_id) == agency_id)
        n = session.scalar(q)
        if n is None:
            raise NotFound("notification", notification_id, "no such notification", refusal="no_notification")
        previous = {"attempts": n.attempts, "error": n.error, "status": n.status}
        result = session.execute(
            update(Notification)
            .where(Notification.id == n.id, Notification.status.in_(RETRYABLE))
            .values(
                status=NotificationStatus.QUEUED,
                attempts=0,
                not_before=now,
                error=None,
                lease_until=None,
                claimed_by=None,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        if not affected(result):
            raise WrongState(
                "status", n.status, "only a failed notification is sent again", refusal="not_failed"
            )
        queue_changes(session, [n.id])  # queued again: the one-stop system hears of it (outbox.callbacks)
        audit.record(session, now, actor, "notification.retry", f"notification:{n.id}", **previous)
