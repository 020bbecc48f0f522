"""The citizen's notices about a missed appointment: one per miss, and the follow-up with the new date."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from notifier.outbox.scans.common import (
    Window,
    dedupe_key,
    insert_rows,
    open_for_deadline,
    row_values,
    ts_key,
)
from notifier.rules.kinds import Kind, audience_of
from notifier.rules.outbox_status import REACHED_STATUSES
from notifier.store.models import Dossier, Notification

APOLOGY, NEW_DATE = Kind.OVERDUE_APOLOGY, Kind.NEW_APPOINTMENT


def scan_apologies(session: Session, now: datetime, window: Window | None = None) -> int:
    """A written apology for every missed appointment, whether still open or already moved."""
    window = window or Window(now)
    open_overdue = select(
        *row_values(
            dedupe_key(APOLOGY, Dossier.id, ts_key(session, Dossier.due_at)),
            APOLOGY,
            audience_of(APOLOGY),
            None,
            Dossier.due_at,
            now,
        )
    ).where(
        open_for_deadline(),
        window.crossed(Dossier.due_at, now, window.last),
    )
    # The agency may set a new date before the scan saw the old one pass: the miss still owes an apology.
    moved = select(
        *row_values(
            dedupe_key(APOLOGY, Dossier.id, ts_key(session, Dossier.apology_old_due_at)),
            APOLOGY,
            audience_of(APOLOGY),
            None,
            Dossier.apology_old_due_at,
            now,
        )
    ).where(Dossier.apology_old_due_at.is_not(None), window.changed())
    return insert_rows(session, open_overdue) + insert_rows(session, moved)


def scan_new_appointments(session: Session, now: datetime, window: Window | None = None) -> int:
    """A follow-up with the new date when the apology went out before the date was known."""
    window = window or Window(now)
    apology = aliased(Notification)
    sent_before = (
        select(apology.id)
        .where(
            apology.dossier_id == Dossier.id,
            apology.kind == APOLOGY,
            apology.ref_at == Dossier.apology_old_due_at,
            apology.status.in_(REACHED_STATUSES),
            apology.sent_at < Dossier.apology_set_at,
        )
        .exists()
    )
    stmt = select(
        *row_values(
            dedupe_key(NEW_DATE, Dossier.id, ts_key(session, Dossier.apology_new_due_at)),
            NEW_DATE,
            audience_of(NEW_DATE),
            None,
            Dossier.apology_old_due_at,
            now,
        )
    ).where(
        Dossier.apology_new_due_at.is_not(None),
        # the condition turns true when the new date is set (the apology was sent before that)
        window.changed(),
        sent_before,
    )
    return insert_rows(session, stmt)
