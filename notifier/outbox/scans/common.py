"""What every scan shares: the outbox columns an INSERT … SELECT fills, dedupe keys built in SQL, the
window of an incremental scan, and the insert itself (ON CONFLICT DO NOTHING on the dedupe key)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Selectable,
    SQLColumnExpression,
    String,
    and_,
    cast,
    func,
    literal,
    or_,
    true,
)
from sqlalchemy.orm import Session

from notifier.outbox.enqueue import enqueue_select
from notifier.rules.clock import VN_TZ
from notifier.rules.kinds import Audience, Kind, audience_of
from notifier.rules.outbox_status import NotificationStatus
from notifier.rules.statuses import OPEN_FOR_DEADLINE
from notifier.store.models import AwareDateTime, Dossier


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
        return Dossier.updated_at >= when(self.last - self.overlap)

    def crossed(self, column: SQLColumnExpression[Any], bound: datetime, last_bound: datetime | None
                ) -> ColumnElement[bool]:
        """`column < bound` newly true since the last scan (or the row changed)."""
        if self.last is None or last_bound is None:
            return column < when(bound)
        return and_(column < when(bound), or_(column >= when(last_bound - self.overlap), self.changed()))


def ts_key(session: Session, column: SQLColumnExpression[Any]) -> ColumnElement[str]:
    """A stable text form of a stored time for dedupe keys, the same whatever the dialect."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYYMMDDHH24MISS")
    return func.strftime("%Y%m%d%H%M%S", column)


def dedupe_key(*parts: SQLColumnExpression[Any] | str) -> ColumnElement[str]:
    """The parts joined by ":", in SQL. Text between two SQL parts is one parameter ("kind:", ":e:"), not
    a parameter per part and per colon: every scan builds a dozen of these, and SQLAlchemy's cost is per
    element."""
    pieces: list[ColumnElement[str]] = []
    text = ""
    for i, part in enumerate(parts):
        text += ":" if i else ""
        if isinstance(part, str):
            text += str(part)  # str(): a Kind is written as its plain value, so keys stay what they were
            continue
        if text:
            pieces.append(literal(text, String))
            text = ""
        pieces.append(cast(part, String))
    if text or not pieces:
        pieces.append(literal(text, String))
    expr = pieces[0]
    for piece in pieces[1:]:
        expr = expr + piece
    return expr


def when(now: datetime) -> ColumnElement[datetime]:
    return literal(now, AwareDateTime())


def insert_rows(session: Session, stmt: Selectable) -> int:
    """Queue what `stmt` selects (columns of `enqueue.COLUMNS`); how many were new."""
    return enqueue_select(session, stmt)


def row_values(
    key: ColumnElement[str],
    kind: ColumnElement[str] | Kind,
    audience: Audience,
    officer_id: SQLColumnExpression[Any] | None,
    ref_at: SQLColumnExpression[Any] | None,
    now: datetime,
) -> list[SQLColumnExpression[Any]]:
    return [
        key,
        literal(str(kind), String) if isinstance(kind, Kind) else kind,
        literal(str(audience), String),
        Dossier.id,
        officer_id if officer_id is not None else literal(None),
        ref_at if ref_at is not None else literal(None, AwareDateTime()),
        *queued_state(now),
    ]


def dossier_row_values(
    session: Session,
    kind: Kind,
    keyed_on: SQLColumnExpression[Any],
    ref_at: SQLColumnExpression[Any],
    now: datetime,
) -> list[SQLColumnExpression[Any]]:
    """The row of a kind that goes to the kind's own audience (no officer) once per dossier and per value
    of the stored time `keyed_on`."""
    return row_values(
        dedupe_key(kind, Dossier.id, ts_key(session, keyed_on)), kind, audience_of(kind), None, ref_at, now
    )


def queued_state(now: datetime) -> list[SQLColumnExpression[Any]]:
    """The last columns of every scanned row (`enqueue.COLUMNS[6:]`): queued, due now, no attempt yet,
    created and updated now (enqueue's own rule, in SQL)."""
    return [literal(str(NotificationStatus.QUEUED), String), when(now), literal(0), when(now), when(now)]


def day_start(d: date) -> datetime:
    return datetime.combine(d, time(0), tzinfo=VN_TZ)


def insert_with_payload(session: Session, stmt: Selectable) -> int:
    """Queue what `stmt` selects (columns of `enqueue.PAYLOAD_COLUMNS`); how many were new."""
    return enqueue_select(session, stmt, with_payload=True)


def json_payload(name: str, column: SQLColumnExpression[Any]) -> ColumnElement[str]:
    """`{"name": <int column>}` built in SQL."""
    return literal('{"' + name + '": ', String) + cast(column, String) + literal("}", String)


def open_for_deadline() -> ColumnElement[bool]:
    """The dossier is with the agency (2 or 4), so its appointment can be missed."""
    return Dossier.status.in_([int(s) for s in OPEN_FOR_DEADLINE])
