"""Per dossier: when it was resolved, its deadline, and whether it was resolved on time.

The one definition of "on time" (README "Reports"), read by the 766 report and by the admin dashboard:
- resolution time: for a dossier now in 9 or 10, the first status event to 9 or 10 known before `until`
  (for 10 that is NgayTra), else `returned_at`; None for any other status;
- deadline: the appointment before any apology (the earliest slip's old date, else `apology_old_due_at`,
  else `due_at`). An apology moves the citizen's appointment, not the agency's record; a supplement
  request's new date is the citizen's clock reset and does count (it is `due_at` with no apology);
- on time: resolved, at or before the deadline; a dossier without a deadline counts as on time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, literal, or_, select

from notifier.rules.statuses import Status
from notifier.store.models import ApologySlip, AwareDateTime, Dossier, DossierEvent

RESOLVED = (int(Status.RESOLVED), int(Status.RETURNED))


def dossier_facts(until: datetime) -> Select[Any]:
    """`SELECT dossier_id, resolved_at, deadline, on_time FROM dossiers …`, one row per dossier.

    Status events at or after `until` are not known yet: a report for a past period is not changed by
    later ones. Callers add their own columns of `Dossier` (`add_columns`) and conditions; in a WHERE
    clause `stmt.selected_columns.resolved_at` (and the others) stand for the expressions themselves.
    """
    bound: ColumnElement[datetime] = literal(until, AwareDateTime())
    first_resolved = (
        select(DossierEvent.dossier_id.label("dossier_id"), func.min(DossierEvent.occurred_at).label("at"))
        .where(DossierEvent.to_status.in_(RESOLVED), DossierEvent.occurred_at < bound)
        .group_by(DossierEvent.dossier_id)
        .subquery("first_resolved")
    )
    first_slip = (
        select(ApologySlip.dossier_id.label("dossier_id"), func.min(ApologySlip.old_due_at).label("old_due"))
        .group_by(ApologySlip.dossier_id)
        .subquery("first_slip")
    )
    resolved_at = case(
        (Dossier.status.in_(RESOLVED), func.coalesce(first_resolved.c.at, Dossier.returned_at)),
        else_=literal(None, AwareDateTime()),
    )
    deadline = func.coalesce(first_slip.c.old_due, Dossier.apology_old_due_at, Dossier.due_at)
    on_time = and_(resolved_at.is_not(None), or_(deadline.is_(None), resolved_at <= deadline))
    return (
        select(
            Dossier.id.label("dossier_id"),
            resolved_at.label("resolved_at"),
            deadline.label("deadline"),
            on_time.label("on_time"),
        )
        .outerjoin(first_resolved, first_resolved.c.dossier_id == Dossier.id)
        .outerjoin(first_slip, first_slip.c.dossier_id == Dossier.id)
    )
