"""The one way a row enters the outbox: a unique dedupe key, status queued, no attempt yet, and nothing
written twice (ON CONFLICT DO NOTHING on the key).

Scans queue many rows at once with `enqueue_select` (an INSERT … SELECT whose columns are `COLUMNS` or
`PAYLOAD_COLUMNS`); workflows queue one row with `enqueue`. Both end in the same insert, so a row made by
a scan and one made by an officer's action obey the same rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BindParameter, ColumnElement, Integer, Select, Selectable, case, func, literal, select
from sqlalchemy.orm import Session

from notifier.outbox.callbacks import has_callbacks, queue_changes
from notifier.rules.kinds import LANES, Kind, Lane, audience_of, lane_of
from notifier.rules.outbox_status import NotificationStatus
from notifier.rules.payloads import Payload
from notifier.store.engine import insert_into, is_postgres
from notifier.store.models import Notification, table_of

# The columns an INSERT … SELECT fills, in this order.
COLUMNS = (
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
# The same with the payload, for kinds that carry one (digests, steps).
PAYLOAD_COLUMNS = (*COLUMNS[:6], "payload", *COLUMNS[6:])


@dataclass(frozen=True)
class NewNotification:
    """One row to queue; the audience follows from the kind (see rules.kinds)."""

    dedupe_key: str
    kind: Kind
    dossier_id: int | None = None
    officer_id: int | None = None
    ref_at: datetime | None = None
    payload: Payload | None = None
    not_before: datetime | None = None  # default: now
    is_test: bool = False  # an admin's test send: left out of exports, reports and dashboards


_LANE_OF: dict[str, int] = {str(k): int(lane) for k, lane in LANES.items()}


def _lane(kind: ColumnElement[Any]) -> ColumnElement[int]:
    """The `priority` column for rows whose kind is the select's `kind` column: the lane itself when the
    scan names one kind (a literal), else a CASE over every kind (the status scan's kind is a CASE)."""
    if isinstance(kind, BindParameter) and isinstance(kind.value, str):
        # The same value the CASE below gives, without its two parameters per kind, which SQLAlchemy
        # builds and walks for a cache key on each of the dozen INSERT … SELECTs of every scan.
        return literal(_LANE_OF.get(kind.value, int(Lane.ALERT)), Integer)
    return case(_LANE_OF, value=kind, else_=int(Lane.ALERT))


def enqueue_select(session: Session, stmt: Selectable, *, with_payload: bool = False) -> int:
    """Queue the rows `stmt` selects (columns in the order of COLUMNS or PAYLOAD_COLUMNS); returns how
    many were new."""
    columns = PAYLOAD_COLUMNS if with_payload else COLUMNS
    table = table_of(Notification)
    if not isinstance(stmt, Select):
        raise TypeError(f"enqueue_select: a SELECT, got {type(stmt).__name__}")
    # The lane follows from the kind the select names, as one more column of the same select (a subquery
    # would lose the types its NULLs get from the insert's columns on PostgreSQL).
    kind = list(stmt.selected_columns)[columns.index("kind")]  # by place: columns need no labels
    ins = insert_into(session, table).from_select([*columns, "priority"], stmt.add_columns(_lane(kind)))
    ins = ins.on_conflict_do_nothing(index_elements=["dedupe_key"])
    if has_callbacks(session):  # the new rows' ids are needed for their "queued" events
        ids = list(session.scalars(ins.returning(table.c.id)))
        queue_changes(session, ids)
        return len(ids)
    if is_postgres(session):
        # psycopg reports no rowcount for INSERT … SELECT; count in the database rather than ship every id
        counted = ins.returning(table.c.id).cte("inserted")
        return session.scalar(select(func.count()).select_from(counted)) or 0
    return len(session.execute(ins.returning(table.c.id)).all())


def enqueue(session: Session, row: NewNotification, now: datetime) -> int | None:
    """Queue one row; its id, or None when a row with the same dedupe key exists already."""
    values = {
        "dedupe_key": row.dedupe_key,
        "kind": str(row.kind),
        "audience": str(audience_of(row.kind)),
        "dossier_id": row.dossier_id,
        "officer_id": row.officer_id,
        "ref_at": row.ref_at,
        "payload": row.payload.dump() if row.payload is not None else None,
        "is_test": row.is_test,
        "status": str(NotificationStatus.QUEUED),
        "priority": int(lane_of(row.kind)),
        "not_before": row.not_before or now,
        "attempts": 0,
        "created_at": now,
        "updated_at": now,
    }
    table = table_of(Notification)
    ins = insert_into(session, table).values(values).on_conflict_do_nothing(index_elements=["dedupe_key"])
    new_id = session.scalar(ins.returning(table.c.id))
    if new_id is None:
        return None
    queue_changes(session, [int(new_id)])
    return int(new_id)
