"""Delivery receipts: a notification's status only moves forward (queued → sent → delivered/undelivered/
failed), whatever order the provider's callbacks arrive in.

Every receipt is stored first. One that finds its row still `sending` (the provider called back before
the dispatcher recorded the provider id, which is common: Twilio reports `sent` within a second, the
batch is recorded when all of it is done) waits, and `apply_pending` applies it right after the
dispatcher records the row.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import ColumnElement, or_, select, tuple_, update
from sqlalchemy.orm import Session

from notifier.channels.webhook import Receipt
from notifier.outbox.callbacks import queue_changes
from notifier.outbox.spend import actual_cost
from notifier.rules.outbox_status import MISSED_STATUSES, NotificationStatus, moves_forward
from notifier.store.contacts import record_opt_out
from notifier.store.models import ChannelReceipt, Notification, affected


def _find(session: Session, channel: str, rc: ChannelReceipt) -> Notification | None:
    if rc.notification_id is not None:
        return session.get(Notification, rc.notification_id)
    if rc.provider_id:
        return session.scalar(
            select(Notification).where(
                Notification.provider_id == rc.provider_id, Notification.channel == channel
            )
        )
    return None


def _apply(session: Session, rc: ChannelReceipt, row: Notification, now: datetime) -> str:
    """Move `row` if the receipt is news; mark the receipt applied. Returns the outcome recorded."""
    if row.status == NotificationStatus.SENDING:
        return "pending"
    if row.channel is not None and row.channel != rc.channel:
        outcome = "other_channel"  # an earlier attempt on a channel the row then fell back from
    elif not moves_forward(row.status, rc.status):
        outcome = "stale"
    else:
        values: dict[str, object] = {"status": rc.status, "updated_at": now}
        if rc.status in MISSED_STATUSES:
            values["error"] = f"{rc.channel} receipt: {rc.status}" + (f": {rc.error}" if rc.error else "")
        if row.channel is None:
            # A queued row whose earlier attempt reached the provider after all: the receipt says where.
            values["channel"] = rc.channel
        if row.provider_id is None and rc.provider_id:
            values["provider_id"] = rc.provider_id
        moved = affected(
            session.execute(
                update(Notification)
                .where(Notification.id == row.id, Notification.status == row.status)
                .values(**values)
            )
        )
        outcome = "moved" if moved else "stale"
        if moved:
            queue_changes(session, [row.id])  # delivered, undelivered, failed: told to the one-stop system
    if outcome != "other_channel" and rc.cost_vnd is not None and rc.cost_vnd != row.cost_vnd:
        # The provider's figure, whatever order the receipts came in: the agency's spend follows it.
        delta = rc.cost_vnd - (row.cost_vnd or 0)  # before the update refreshes `row`
        session.execute(update(Notification).where(Notification.id == row.id).values(cost_vnd=rc.cost_vnd))
        actual_cost(session, row, delta, now)
    rc.applied_at, rc.outcome = now, outcome
    if rc.notification_id is None:
        rc.notification_id = row.id
    return outcome


# What a receipt says that is stored as it says it (its opt-out is recorded apart; its raw form is not kept).
_STORED = ("provider_id", "notification_id", "status", "error", "cost_vnd")


def record_receipt(session: Session, channel: str, medium: str, receipt: Receipt, now: datetime) -> str:
    """Store one receipt and apply it if its row can take it: moved, stale, other_channel or pending."""
    if receipt.opt_out_address:
        record_opt_out(session, receipt.opt_out_address, medium, now, reason=receipt.error, source=channel)
    said = {name: getattr(receipt, name) for name in _STORED}
    rc = ChannelReceipt(channel=channel, received_at=now, **said)
    if rc.notification_id is not None and session.get(Notification, rc.notification_id) is None:
        rc.notification_id = None  # an id we never issued: keep the receipt, without a dangling key
    session.add(rc)
    session.flush()
    row = _find(session, channel, rc)
    if row is None:
        return "pending"
    outcome = _apply(session, rc, row, now)
    session.flush()
    return outcome


def _any_waiting(session: Session) -> bool:
    """Receipts that beat their send are rare: one look (the partial index of waiting receipts on
    PostgreSQL) spares every batch the matching query with its hundreds of parameters."""
    waiting = select(ChannelReceipt.id).where(ChannelReceipt.applied_at.is_(None)).limit(1)
    return session.scalar(waiting) is not None


def apply_pending(session: Session, sent: Iterable[tuple[int, str, str | None]], now: datetime) -> int:
    """Apply receipts that were waiting for rows just recorded as sent: (notification id, channel,
    provider id) each. Returns how many moved a row."""
    sent = list(sent)
    if not sent or not _any_waiting(session):
        return 0
    ids = [n for n, _, _ in sent]
    pairs = [(c, p) for _, c, p in sent if p]
    match: ColumnElement[bool] = ChannelReceipt.notification_id.in_(ids)
    if pairs:
        match = or_(match, tuple_(ChannelReceipt.channel, ChannelReceipt.provider_id).in_(pairs))
    waiting = session.scalars(
        select(ChannelReceipt).where(ChannelReceipt.applied_at.is_(None), match).order_by(ChannelReceipt.id)
    ).all()
    by_id = {n: (c, p) for n, c, p in sent}
    by_pair: dict[tuple[str, str | None], int] = {(c, p): n for n, c, p in sent if p}
    moved = 0
    for rc in waiting:
        n = rc.notification_id if rc.notification_id in by_id else by_pair.get((rc.channel, rc.provider_id))
        row = session.get(Notification, n) if n is not None else None
        if row is None:
            continue
        session.refresh(row)
        moved += _apply(session, rc, row, now) == "moved"
        session.flush()
    return moved
