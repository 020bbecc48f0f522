"""The citizen's messages about an appointment the agency cannot keep.

- `overdue_apology`: the agency issued Mẫu 04 (apology and proposed extension), before or after the
  deadline; one per document.
- `overdue_notice`: the deadline passed and no Mẫu 04 moved it: the honest fact that the dossier has no
  result on time, which is not the legal apology.
- `new_appointment`: the date of a Mẫu 04 already sent was corrected.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from notifier.outbox.scans.common import (
    Window,
    dossier_row_values,
    insert_rows,
    open_for_deadline,
)
from notifier.rules.kinds import Kind
from notifier.rules.outbox_status import REACHED_STATUSES
from notifier.store.models import Dossier, Notification

APOLOGY, NOTICE, NEW_DATE = Kind.OVERDUE_APOLOGY, Kind.OVERDUE_NOTICE, Kind.NEW_APPOINTMENT


def scan_apologies(session: Session, now: datetime, window: Window | None = None) -> dict[str, int]:
    """The Mẫu 04 message for every document issued, and the honest notice for every appointment that
    passed without one."""
    window = window or Window(now)
    # Issuing Mẫu 04 moves due_at to the new date, so an appointment still in due_at when it passes had none.
    open_overdue = select(*dossier_row_values(session, NOTICE, Dossier.due_at, Dossier.due_at, now)).where(
        open_for_deadline(),
        window.crossed(Dossier.due_at, now, window.last),
    )
    # A Mẫu 04 was issued (by an officer or through the portal): the citizen gets it, once per document.
    moved = select(
        *dossier_row_values(session, APOLOGY, Dossier.apology_old_due_at, Dossier.apology_old_due_at, now)
    ).where(Dossier.apology_old_due_at.is_not(None), window.changed())
    return {str(NOTICE): insert_rows(session, open_overdue), str(APOLOGY): insert_rows(session, moved)}


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
        *dossier_row_values(session, NEW_DATE, Dossier.apology_new_due_at, Dossier.apology_old_due_at, now)
    ).where(
        Dossier.apology_new_due_at.is_not(None),
        # the condition turns true when the new date is set (the apology was sent before that)
        window.changed(),
        sent_before,
    )
    return insert_rows(session, stmt)
