"""Payment reminders: still waiting for the fee (status 6) some working days after it was asked for."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from notifier.outbox.scans.common import Window, day_start, dossier_row_values, insert_rows
from notifier.rules.kinds import Kind
from notifier.rules.statuses import Status
from notifier.rules.workdays import WorkCalendar
from notifier.store.models import Dossier


def scan_payment_reminders(
    session: Session, now: datetime, calendar: WorkCalendar, days: int, window: Window | None = None
) -> int:
    window = window or Window(now)

    def cutoff_at(t: datetime) -> datetime:
        return day_start(calendar.overdue_cutoff(t.date(), days) + timedelta(days=1))

    last_cutoff = cutoff_at(window.last) if window.last else None
    stmt = select(
        *dossier_row_values(
            session, Kind.PAYMENT_REMINDER, Dossier.status_changed_at, Dossier.status_changed_at, now
        )
    ).where(
        Dossier.status == int(Status.PAYMENT_REQUESTED),
        Dossier.fee_paid.is_(False),
        window.crossed(Dossier.status_changed_at, cutoff_at(now), last_cutoff),
    )
    return insert_rows(session, stmt)
