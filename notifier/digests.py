"""Daily digests: one message per officer (`officer_digest`) and per head of agency (`head_digest`).

On working days, from `[digest] time`, the scan queues one digest per officer who has dossiers due within
`[digest] due_soon_working_days` working days or already overdue, and one per head whose agency has any;
the dedupe key carries the officer and the day, so a day never gets two. The scan stores the window's end
in the notification's payload; the list itself is read when the message is rendered, so it shows the
dossiers as they are when it goes out (most urgent first, overdue ones at the top).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from types import SimpleNamespace

from sqlalchemy import ColumnElement, Select, String, and_, cast, literal, or_, select, true
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, selectinload

from notifier.clock import VN_TZ
from notifier.config import Settings
from notifier.context import dossier_ns
from notifier.models import Dossier, Notification, Officer
from notifier.scans import _key, _when, day_start
from notifier.statuses import OPEN_FOR_DEADLINE
from notifier.workdays import WorkCalendar

DIGEST_KINDS = ("officer_digest", "head_digest")

# The notification columns an INSERT … SELECT fills when the kind needs a payload (digests, steps).
PAYLOAD_COLUMNS = (
    "dedupe_key",
    "kind",
    "audience",
    "dossier_id",
    "officer_id",
    "ref_at",
    "payload",
    "status",
    "not_before",
    "attempts",
    "created_at",
    "updated_at",
)


def insert_with_payload(session: Session, stmt: Select[tuple[object, ...]]) -> int:
    """INSERT … SELECT into the outbox, skipping rows whose dedupe key exists; returns how many were new."""
    table = Notification.__table__
    dialect = session.get_bind().dialect.name
    ins = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    ins = ins.from_select(list(PAYLOAD_COLUMNS), stmt).on_conflict_do_nothing(index_elements=["dedupe_key"])
    # rowcount of INSERT … SELECT is unreliable across drivers: count the ids that came back
    return len(session.execute(ins.returning(table.c.id)).all())


def json_payload(name: str, column: ColumnElement[int]) -> ColumnElement[str]:
    """`{"name": <int column>}` built in SQL."""
    return literal('{"' + name + '": ', String) + cast(column, String) + literal("}", String)


def _open() -> ColumnElement[bool]:
    return Dossier.status.in_([int(s) for s in OPEN_FOR_DEADLINE])


def _officer_scope(
    officer_id: ColumnElement[int] | int, agency_id: ColumnElement[int] | int
) -> ColumnElement[bool]:
    """The same rule as the officer alerts: assigned to the officer, or unassigned in the officer's agency."""
    return or_(
        Dossier.officer_id == officer_id,
        and_(Dossier.officer_id.is_(None), Dossier.agency_id == agency_id),
    )


def window_end(now: datetime, calendar: WorkCalendar, days: int) -> datetime:
    """Dossiers due before this moment have at most `days` working days left (or are overdue)."""
    return day_start(calendar.due_soon_cutoff(now.astimezone(VN_TZ).date(), days) + timedelta(days=1))


def scan_digests(
    session: Session,
    now: datetime,
    settings: Settings,
    calendar: WorkCalendar,
    since: datetime | None = None,
) -> dict[str, int]:
    """`since`: the previous scan's time on an incremental scan; the day's digests are queued by the first
    scan after the digest time (a full scan tries again, for officers added later in the day)."""
    cfg = settings.digest
    queued = dict.fromkeys(DIGEST_KINDS, 0)
    local = now.astimezone(VN_TZ)
    if not cfg.enabled or not calendar.is_working_day(local.date()) or local.time() < cfg.at:
        return queued
    if since is not None and since >= datetime.combine(local.date(), cfg.at, tzinfo=VN_TZ):
        return queued  # an earlier scan today already passed the digest time
    until = window_end(now, calendar, cfg.due_soon_working_days)
    payload = literal(json.dumps({"day": local.date().isoformat(), "until": until.isoformat()}), String)
    day = local.strftime("%Y%m%d")
    in_window = and_(_open(), Dossier.due_at < _when(until))
    # Sets computed once (one range scan of the status/due index), not an EXISTS per officer: with a
    # million dossiers the correlated form took seconds on every scan of the day.
    assigned = select(Dossier.officer_id).where(in_window, Dossier.officer_id.is_not(None))
    pooled = select(Dossier.agency_id).where(in_window, Dossier.officer_id.is_(None))
    has_own = or_(Officer.id.in_(assigned), Officer.agency_id.in_(pooled))
    has_agency = Officer.agency_id.in_(select(Dossier.agency_id).where(in_window))

    for kind, audience, heads, condition in (
        ("officer_digest", "officer", False, has_own),
        ("head_digest", "head", True, has_agency),
    ):
        stmt = select(
            _key(kind, day, Officer.id),
            literal(kind, String),
            literal(audience, String),
            literal(None),
            Officer.id,
            _when(now),
            payload,
            literal("queued", String),
            _when(now),
            literal(0),
            _when(now),
            _when(now),
        ).where(
            Officer.active,
            Officer.is_head if heads else ~Officer.is_head,
            true() if cfg.send_empty else condition,
        )
        queued[kind] = insert_with_payload(session, stmt)
    return queued


def digest_items(
    session: Session, n: Notification, calendar: WorkCalendar, now: datetime
) -> list[SimpleNamespace]:
    """The `items` of a digest: the recipient's dossiers in the window, most urgent first."""
    officer = n.officer
    if officer is None:
        return []
    until = now
    if n.payload:
        raw = json.loads(n.payload).get("until")
        if raw:
            until = datetime.fromisoformat(raw)
    if n.kind == "head_digest":
        scope = Dossier.agency_id == officer.agency_id
    else:
        scope = _officer_scope(officer.id, officer.agency_id)
    rows = session.scalars(
        select(Dossier)
        .where(_open(), Dossier.due_at < _when(until), scope)
        .options(selectinload(Dossier.procedure))
        .order_by(Dossier.due_at, Dossier.id)
    ).all()
    return [_item(d, calendar, now) for d in rows]


def _item(d: Dossier, calendar: WorkCalendar, now: datetime) -> SimpleNamespace:
    """One entry of `items` (SCHEMA["items"]). A digest names the applicant only (Decree 13/2023: minimise
    personal data in staff messages), which also spares parsing thousands of phone numbers per digest."""
    return dossier_ns(d, calendar, now, contact=False)
