"""Set-based scans that turn dossier state into queued notifications.

Each scan is an INSERT … SELECT guarded by the notifications' unique dedupe key (ON CONFLICT DO NOTHING),
so repeating a scan, re-importing, or two schedulers racing never queue a message twice, and no dossier is
loaded into Python. Working-day thresholds are turned into plain timestamps first (see WorkCalendar).

A scan family is a function of a `ScanRun` returning {kind: rows queued}; `SCANS` lists them in the order
they run. A floor above adds its own steps through `scan_all(..., extra=...)` (the apology workflow issues
the documents for dates the portal moved), so this package never imports a workflow.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from notifier.config import Settings
from notifier.outbox.scans.apologies import scan_apologies, scan_new_appointments
from notifier.outbox.scans.common import Window, day_start
from notifier.outbox.scans.digests import scan_digests
from notifier.outbox.scans.officers import scan_officer_alerts
from notifier.outbox.scans.payments import scan_payment_reminders
from notifier.outbox.scans.status import scan_status_changes
from notifier.outbox.scans.steps import scan_step_overdue
from notifier.rules.kinds import Kind
from notifier.rules.workdays import WorkCalendar
from notifier.store.models import ScanState

__all__ = ["SCANS", "SCAN_LOCK_ID", "ScanResult", "ScanRun", "ScanStep", "Window", "day_start", "scan_all"]


@dataclass
class ScanResult:
    queued: dict[str, int]
    full: bool = True
    skipped: bool = False  # another scheduler held the scan lock

    @property
    def total(self) -> int:
        return sum(self.queued.values())


@dataclass(frozen=True)
class ScanRun:
    """What every scan step receives: one transaction, one moment, the settings and the window."""

    session: Session
    now: datetime
    settings: Settings
    calendar: WorkCalendar
    window: Window


ScanStep = Callable[[ScanRun], dict[str, int]]


def _status(run: ScanRun) -> dict[str, int]:
    return {"status": scan_status_changes(run.session, run.now)}


def _payments(run: ScanRun) -> dict[str, int]:
    days = run.settings.reminders.payment_reminder_working_days
    queued = scan_payment_reminders(run.session, run.now, run.calendar, days, run.window)
    return {str(Kind.PAYMENT_REMINDER): queued}


def _apologies(run: ScanRun) -> dict[str, int]:
    return {
        **scan_apologies(run.session, run.now, run.window),
        str(Kind.NEW_APPOINTMENT): scan_new_appointments(run.session, run.now, run.window),
    }


def _officers(run: ScanRun) -> dict[str, int]:
    r = run.settings.reminders
    return scan_officer_alerts(
        run.session,
        run.now,
        run.calendar,
        r.due_soon_working_days,
        r.escalation_working_days,
        run.window,
        run.settings.apology.prompt_working_days_before,
    )


def _digests(run: ScanRun) -> dict[str, int]:
    return scan_digests(run.session, run.now, run.settings.digest, run.calendar, run.window.last)


def _steps(run: ScanRun) -> dict[str, int]:
    return {str(Kind.STEP_OVERDUE): scan_step_overdue(run.session, run.now)}


# The order they run in; `extra` steps of scan_all run after the citizen and officer scans, before digests.
SCANS: tuple[ScanStep, ...] = (_status, _payments, _apologies, _officers)
LATE_SCANS: tuple[ScanStep, ...] = (_digests, _steps)

SCAN_LOCK_ID = 0x6E6F7469  # "noti": one scan at a time across every scheduler sharing the database


def _take_scan_lock(session: Session) -> bool:
    if session.get_bind().dialect.name != "postgresql":
        return True  # SQLite has one writer at a time anyway
    return bool(session.scalar(select(func.pg_try_advisory_xact_lock(SCAN_LOCK_ID))))


def scan_window(session: Session, now: datetime, settings: Settings) -> tuple[Window, ScanState]:
    """Decide between an incremental and a full scan, from the state the previous scan left."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    # Two first-ever scans may race to create the row: let the database settle it.
    session.execute(dialect.insert(ScanState).values(name="all", runs=0).on_conflict_do_nothing())
    state = session.get(ScanState, "all", with_for_update=True, populate_existing=True)
    assert state is not None
    overlap = timedelta(seconds=settings.scan.overlap_seconds)
    full = (
        state.last_now is None
        or state.last_now > now  # the clock went back (--now in the past): trust nothing
        or state.runs % settings.scan.full_every == 0
    )
    return Window(now, None if full else state.last_now, overlap), state


def scan_all(
    session: Session,
    now: datetime,
    settings: Settings,
    calendar: WorkCalendar,
    extra: Sequence[ScanStep] = (),
) -> ScanResult:
    """Every scan once, in one transaction the caller owns; skipped when another scheduler holds the lock."""
    if not _take_scan_lock(session):
        return ScanResult({}, skipped=True)
    window, state = scan_window(session, now, settings)
    run = ScanRun(session, now, settings, calendar, window)
    queued: dict[str, int] = {}
    for step in (*SCANS, *extra, *LATE_SCANS):
        queued.update(step(run))
    state.last_now = max(now, state.last_now) if state.last_now and not window.full else now
    state.runs += 1
    return ScanResult(queued, full=window.full)
