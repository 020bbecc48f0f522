"""Set-based scans that turn dossier state into queued notifications.

Each scan is one INSERT … SELECT guarded by the notifications' unique dedupe key (ON CONFLICT DO NOTHING),
so repeating a scan, re-importing, or two schedulers racing never queue a message twice, and no dossier is
loaded into Python. Working-day thresholds are turned into plain timestamps first (see WorkCalendar).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    and_,
    case,
    cast,
    func,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased

from notifier.clock import VN_TZ
from notifier.config import Settings
from notifier.models import AwareDateTime, Dossier, DossierEvent, Notification, Officer, ScanState
from notifier.statuses import OPEN_FOR_DEADLINE, STATUS_KIND, Status
from notifier.workdays import WorkCalendar

# How old a status change may be and still be announced: importing last year's archive must not text
# everybody about dossiers returned months ago.
STATUS_NOTICE_MAX_AGE = timedelta(days=3)

INSERT_COLUMNS = (
    "dedupe_key",
    "kind",
    "audience",
    "dossier_id",
    "officer_id",
    "ref_at",
    "status",
    "not_before",
    "attempts",
    "created_at",
    "updated_at",
)


@dataclass
class ScanResult:
    queued: dict[str, int]
    full: bool = True
    skipped: bool = False  # another scheduler held the scan lock

    @property
    def total(self) -> int:
        return sum(self.queued.values())


@dataclass(frozen=True)
class Window:
    """What changed since the previous scan, so a rescan touches only new candidates.

    Every time-based condition is "column < a bound that moves forward with time"; the rows that newly meet
    it are those between the previous bound and this one, plus rows changed since the previous scan. An
    overlap covers transactions that were still open when the previous scan read. `last=None` is a full
    scan; the dedupe keys make overlap and full scans harmless.
    """

    now: datetime
    last: datetime | None = None
    overlap: timedelta = timedelta(minutes=10)

    @property
    def full(self) -> bool:
        return self.last is None

    def changed(self) -> ColumnElement[bool]:
        if self.last is None:
            return true()
        return Dossier.updated_at >= _when(self.last - self.overlap)

    def crossed(self, column: ColumnElement[datetime], bound: datetime, last_bound: datetime | None
                ) -> ColumnElement[bool]:
        """`column < bound` newly true since the last scan (or the row changed)."""
        if self.last is None or last_bound is None:
            return column < _when(bound)
        return and_(column < _when(bound), or_(column >= _when(last_bound - self.overlap), self.changed()))


def _ts_key(session: Session, column: ColumnElement[datetime]) -> ColumnElement[str]:
    """A stable text form of a stored time for dedupe keys, the same whatever the dialect."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYYMMDDHH24MISS")
    return func.strftime("%Y%m%d%H%M%S", column)


def _key(*parts: ColumnElement[str] | str) -> ColumnElement[str]:
    expr: ColumnElement[str] = literal("", String)
    for i, part in enumerate(parts):
        piece = literal(part, String) if isinstance(part, str) else cast(part, String)
        expr = expr + (literal(":", String) if i else literal("", String)) + piece
    return expr


def _when(now: datetime) -> ColumnElement[datetime]:
    return literal(now, AwareDateTime())


def _insert(session: Session, stmt: Select[tuple[object, ...]]) -> int:
    dialect = session.get_bind().dialect.name
    table = Notification.__table__
    ins = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    ins = ins.from_select(list(INSERT_COLUMNS), stmt).on_conflict_do_nothing(index_elements=["dedupe_key"])
    if dialect == "postgresql":
        # psycopg reports no rowcount for INSERT ... SELECT; count in the database rather than ship every id
        counted = ins.returning(table.c.id).cte("inserted")
        return session.scalar(select(func.count()).select_from(counted)) or 0
    return session.execute(ins).rowcount or 0


def _rows(
    key: ColumnElement[str],
    kind: ColumnElement[str] | str,
    audience: str,
    officer_id: ColumnElement[int] | None,
    ref_at: ColumnElement[datetime] | None,
    now: datetime,
) -> list[ColumnElement[object]]:
    return [
        key,
        literal(kind, String) if isinstance(kind, str) else kind,
        literal(audience, String),
        Dossier.id,
        officer_id if officer_id is not None else literal(None),
        ref_at if ref_at is not None else literal(None, AwareDateTime()),
        literal("queued", String),
        _when(now),
        literal(0),
        _when(now),
        _when(now),
    ]


def day_start(d: object) -> datetime:
    return datetime.combine(d, time(0), tzinfo=VN_TZ)  # type: ignore[arg-type]


def scan_status_changes(session: Session, now: datetime) -> int:
    """Citizen notices for status changes recorded since the last scan."""
    high = session.scalar(select(func.max(DossierEvent.id)).where(DossierEvent.pending))
    if high is None:
        return 0
    kinds = {code: kind for code, kind in STATUS_KIND.items()}
    kind_expr = case(*[(DossierEvent.to_status == int(code), kind) for code, kind in kinds.items()])
    stmt = (
        select(
            *_rows(
                _key(kind_expr, Dossier.id, "e", DossierEvent.id),
                kind_expr,
                "citizen",
                None,
                DossierEvent.occurred_at,
                now,
            )
        )
        .join_from(DossierEvent, Dossier, DossierEvent.dossier_id == Dossier.id)
        .where(
            DossierEvent.pending,
            DossierEvent.id <= high,
            DossierEvent.to_status.in_([int(c) for c in kinds]),
            # the status must still be current: 2 then 4 within one scan is not worth a "received" text
            Dossier.status == DossierEvent.to_status,
            DossierEvent.occurred_at >= _when(now - STATUS_NOTICE_MAX_AGE),
        )
    )
    queued = _insert(session, stmt)
    session.execute(
        update(DossierEvent).where(DossierEvent.pending, DossierEvent.id <= high).values(pending=False)
    )
    return queued


def scan_payment_reminders(
    session: Session, now: datetime, calendar: WorkCalendar, days: int, window: Window | None = None
) -> int:
    window = window or Window(now)

    def cutoff_at(t: datetime) -> datetime:
        return day_start(calendar.overdue_cutoff(t.date(), days) + timedelta(days=1))

    last_cutoff = cutoff_at(window.last) if window.last else None
    stmt = select(
        *_rows(
            _key("payment_reminder", Dossier.id, _ts_key(session, Dossier.status_changed_at)),
            "payment_reminder",
            "citizen",
            None,
            Dossier.status_changed_at,
            now,
        )
    ).where(
        Dossier.status == int(Status.PAYMENT_REQUESTED),
        Dossier.fee_paid.is_(False),
        window.crossed(Dossier.status_changed_at, cutoff_at(now), last_cutoff),
    )
    return _insert(session, stmt)


def scan_apologies(session: Session, now: datetime, window: Window | None = None) -> int:
    """A written apology for every missed appointment, whether still open or already moved."""
    window = window or Window(now)
    open_overdue = select(
        *_rows(
            _key("overdue_apology", Dossier.id, _ts_key(session, Dossier.due_at)),
            "overdue_apology",
            "citizen",
            None,
            Dossier.due_at,
            now,
        )
    ).where(
        Dossier.status.in_([int(s) for s in OPEN_FOR_DEADLINE]),
        window.crossed(Dossier.due_at, now, window.last),
    )
    # The agency may set a new date before the scan saw the old one pass: the miss still owes an apology.
    moved = select(
        *_rows(
            _key("overdue_apology", Dossier.id, _ts_key(session, Dossier.apology_old_due_at)),
            "overdue_apology",
            "citizen",
            None,
            Dossier.apology_old_due_at,
            now,
        )
    ).where(Dossier.apology_old_due_at.is_not(None), window.changed())
    return _insert(session, open_overdue) + _insert(session, moved)


def scan_new_appointments(session: Session, now: datetime, window: Window | None = None) -> int:
    """A follow-up with the new date when the apology went out before the date was known."""
    window = window or Window(now)
    apology = aliased(Notification)
    sent_before = (
        select(apology.id)
        .where(
            apology.dossier_id == Dossier.id,
            apology.kind == "overdue_apology",
            apology.ref_at == Dossier.apology_old_due_at,
            apology.status.in_(["sent", "delivered"]),
            apology.sent_at < Dossier.apology_set_at,
        )
        .exists()
    )
    stmt = select(
        *_rows(
            _key("new_appointment", Dossier.id, _ts_key(session, Dossier.apology_new_due_at)),
            "new_appointment",
            "citizen",
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
    return _insert(session, stmt)


def _officer_alert(
    session: Session, kind: str, audience: str, condition: ColumnElement[bool], now: datetime, heads: bool
) -> int:
    """One row per (dossier, officer): the assigned officer, else every active officer of the agency."""
    if heads:
        joins = [and_(Officer.agency_id == Dossier.agency_id, Officer.is_head)]
    else:
        # Two statements rather than one join on "assigned OR (unassigned AND same agency)": the OR keeps
        # PostgreSQL from using the dossier indexes, and a rescan of a million dossiers took 0.8 s.
        joins = [
            Officer.id == Dossier.officer_id,
            and_(Dossier.officer_id.is_(None), Officer.agency_id == Dossier.agency_id, ~Officer.is_head),
        ]
    queued = 0
    for recipients in joins:
        stmt = (
            select(
                *_rows(
                    _key(kind, Dossier.id, _ts_key(session, Dossier.due_at), Officer.id),
                    kind,
                    audience,
                    Officer.id,
                    Dossier.due_at,
                    now,
                )
            )
            .join_from(Dossier, Officer, recipients)
            .where(condition, Officer.active)
        )
        queued += _insert(session, stmt)
    return queued


def scan_officer_alerts(
    session: Session,
    now: datetime,
    calendar: WorkCalendar,
    due_soon_days: int,
    escalation_days: int,
    window: Window | None = None,
) -> dict[str, int]:
    window = window or Window(now)
    open_ = Dossier.status.in_([int(s) for s in OPEN_FOR_DEADLINE])

    def soon_at(t: datetime) -> datetime:
        return day_start(calendar.due_soon_cutoff(t.date(), due_soon_days) + timedelta(days=1))

    def esc_at(t: datetime) -> datetime:
        return day_start(calendar.overdue_cutoff(t.date(), escalation_days) + timedelta(days=1))

    last = window.last
    return {
        "due_soon": _officer_alert(
            session,
            "due_soon",
            "officer",
            and_(
                open_,
                Dossier.due_at >= _when(now),
                window.crossed(Dossier.due_at, soon_at(now), soon_at(last) if last else None),
            ),
            now,
            heads=False,
        ),
        "overdue_alert": _officer_alert(
            session,
            "overdue_alert",
            "officer",
            and_(open_, window.crossed(Dossier.due_at, now, last)),
            now,
            heads=False,
        ),
        "escalation": _officer_alert(
            session,
            "escalation",
            "head",
            and_(
                open_,
                Dossier.due_at < _when(now),
                window.crossed(Dossier.due_at, esc_at(now), esc_at(last) if last else None),
            ),
            now,
            heads=True,
        ),
    }


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


def scan_all(session: Session, now: datetime, settings: Settings, calendar: WorkCalendar) -> ScanResult:
    if not _take_scan_lock(session):
        return ScanResult({}, skipped=True)
    window, state = scan_window(session, now, settings)
    queued: dict[str, int] = {}
    queued["status"] = scan_status_changes(session, now)
    queued["payment_reminder"] = scan_payment_reminders(
        session, now, calendar, settings.reminders.payment_reminder_working_days, window
    )
    queued["overdue_apology"] = scan_apologies(session, now, window)
    queued["new_appointment"] = scan_new_appointments(session, now, window)
    queued.update(
        scan_officer_alerts(
            session,
            now,
            calendar,
            settings.reminders.due_soon_working_days,
            settings.reminders.escalation_working_days,
            window,
        )
    )
    from notifier import apology, digests, steps  # officers' scans; those modules build on this one

    apology.issue_missing_slips(  # dates set on the portal
        session, now, settings.apology.number_format, None if window.full else window.changed()
    )
    queued.update(digests.scan_digests(session, now, settings, calendar, window.last))
    queued["step_overdue"] = steps.scan_step_overdue(session, now)
    state.last_now = max(now, state.last_now) if state.last_now and not window.full else now
    state.runs += 1
    return ScanResult(queued, full=window.full)
