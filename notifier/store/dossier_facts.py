"""Per dossier: when its processing ended, its deadline, and whether it was processed on time.

The one definition of "on time" (README "Reports"), read by the 766 report and by the admin dashboard. It
follows indicator 2.1 of Decision 766 as the published calculation reads (DOMAIN.md, medium):
- end states: resolved (9), returned (10), and the ends the agency did not choose: withdrawn (7), stopped
  (8) and rejected (3) after the dossier had been accepted. A dossier never accepted (1 → 3, or sent in
  3) has no processing to judge;
- end time (`resolved_at`): for a dossier now in an end state, the portal's `NgayKetThucXuLy` when it sent
  one, else the first status event to an end state known before `until` (for 10 that is NgayTra), else
  `returned_at`; None for any other status;
- deadline: the appointment before any apology (the earliest slip's old date, else `apology_old_due_at`,
  else `due_at`). An apology moves the citizen's appointment, not the agency's record (notifier's own
  measure: the national portal may judge by the extended date). Time waiting for the citizen's supplement is
  excluded because a supplement request's new date is the citizen's clock reset (`due_at`, no apology);
- on time: ended at or before the deadline, with at most one supplement request (a second one counts
  against the agency); a dossier without a deadline counts as on time;
- early ("trước hạn"): on time and ended at least a day (24 hours) before the deadline (notifier's reading).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, literal, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement

from notifier.rules.statuses import Status
from notifier.store.models import ApologySlip, AwareDateTime, Dossier, DossierEvent

RESOLVED = (int(Status.RESOLVED), int(Status.RETURNED))
# End states of indicator 2.1 besides resolution; a rejection only after the dossier was accepted.
END_STATES = (int(Status.NOT_ACCEPTED), int(Status.WITHDRAWN), int(Status.STOPPED), *RESOLVED)
ACCEPTED_STATES = (
    int(Status.ACCEPTED),
    int(Status.PROCESSING),
    int(Status.SUPPLEMENT_REQUESTED),
    int(Status.PAYMENT_REQUESTED),
)
NEVER_ACCEPTED = (int(Status.NEW), int(Status.NOT_ACCEPTED))
MAX_SUPPLEMENTS_ON_TIME = 1


class _DayLater(FunctionElement[datetime]):
    """A stored time plus one day, in the database (SQLite keeps times as UTC text, PostgreSQL as such)."""

    type = AwareDateTime()
    inherit_cache = True
    name = "day_later"


@compiles(_DayLater)
def _day_later(element: _DayLater, compiler: Any, **kw: Any) -> str:
    return f"({compiler.process(element.clauses, **kw)} + interval '1 day')"


@compiles(_DayLater, "sqlite")
def _day_later_sqlite(element: _DayLater, compiler: Any, **kw: Any) -> str:
    # The same text form SQLAlchemy stores ("2026-10-05 02:00:00.000000"), so text comparison still orders.
    return f"(strftime('%Y-%m-%d %H:%M:%f', {compiler.process(element.clauses, **kw)}, '+1 day') || '000')"


def dossier_facts(until: datetime) -> Select[Any]:
    """`SELECT dossier_id, resolved_at, deadline, on_time, early FROM dossiers …`, one row per dossier.

    Status events at or after `until` are not known yet: a report for a past period is not changed by
    later ones. Callers add their own columns of `Dossier` (`add_columns`) and conditions; in a WHERE
    clause `stmt.selected_columns.resolved_at` (and the others) stand for the expressions themselves.
    """
    bound: ColumnElement[datetime] = literal(until, AwareDateTime())
    ended = or_(
        DossierEvent.to_status.in_([s for s in END_STATES if s != Status.NOT_ACCEPTED]),
        and_(
            DossierEvent.to_status == int(Status.NOT_ACCEPTED),
            DossierEvent.from_status.in_(ACCEPTED_STATES),
        ),
    )
    first_end = (
        select(DossierEvent.dossier_id.label("dossier_id"), func.min(DossierEvent.occurred_at).label("at"))
        .where(ended, DossierEvent.occurred_at < bound)
        .group_by(DossierEvent.dossier_id)
        .subquery("first_end")
    )
    first_slip = (
        select(ApologySlip.dossier_id.label("dossier_id"), func.min(ApologySlip.old_due_at).label("old_due"))
        .group_by(ApologySlip.dossier_id)
        .subquery("first_slip")
    )
    no_time = literal(None, AwareDateTime())
    resolved_at = case(
        (
            Dossier.status.in_(RESOLVED),
            func.coalesce(Dossier.processing_ended_at, first_end.c.at, Dossier.returned_at),
        ),
        # Withdrawn, stopped, rejected: only with an event that proves the dossier was being processed.
        (
            Dossier.status.in_(END_STATES) & first_end.c.at.is_not(None),
            func.coalesce(Dossier.processing_ended_at, first_end.c.at),
        ),
        else_=no_time,
    )
    deadline = func.coalesce(first_slip.c.old_due, Dossier.apology_old_due_at, Dossier.due_at)
    on_time = and_(
        resolved_at.is_not(None),
        func.coalesce(Dossier.supplement_count, 0) <= MAX_SUPPLEMENTS_ON_TIME,
        or_(deadline.is_(None), resolved_at <= deadline),
    )
    early = and_(on_time, deadline.is_not(None), _DayLater(resolved_at) <= deadline)
    return (
        select(
            Dossier.id.label("dossier_id"),
            resolved_at.label("resolved_at"),
            deadline.label("deadline"),
            on_time.label("on_time"),
            early.label("early"),
        )
        .outerjoin(first_end, first_end.c.dossier_id == Dossier.id)
        .outerjoin(first_slip, first_slip.c.dossier_id == Dossier.id)
    )
