"""A dossier as the floors above see it: the one view of a stored row (rules.dossier_view), and the plain
namespaces templates read (see rules.rendering.SCHEMA)."""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from types import SimpleNamespace

from sqlalchemy.orm import Session

from notifier.rules.dossier_view import DossierRecord, DossierView, view_dossier
from notifier.rules.payloads import AgencyFacts, StepPayload
from notifier.rules.rendering import SCHEMA
from notifier.rules.workdays import WorkCalendar
from notifier.store.models import DossierStep, Officer
from notifier.store.planning import AgencyLike, DossierLike

# Filled from the dossier's procedure, not from the dossier's own columns.
_FROM_PROCEDURE = ("procedure_code", "procedure_name")


def dossier_record(d: DossierLike) -> DossierRecord:
    """The row's own values (reads `d.procedure`)."""
    own = {f.name: getattr(d, f.name) for f in fields(DossierRecord) if f.name not in _FROM_PROCEDURE}
    return DossierRecord(**own, procedure_code=d.procedure.code, procedure_name=d.procedure.name)


def dossier_view(d: DossierLike, calendar: WorkCalendar, now: datetime) -> DossierView:
    """What is shown about the stored dossier `d` at `now` (see rules.dossier_view)."""
    return view_dossier(dossier_record(d), calendar, now)


# A template's dossier: its names in rules.rendering.SCHEMA with the working-day counts (what a digest's items
# carry). All but these are the view's own values, unchanged.
_SET_FOR_TEMPLATES = frozenset(
    {
        "phone_masked",
        "email",
        "original_due_at",
        "new_due_at",
        "apology_number",
        "apology_issued_at",
        "extensions",
    }
)
_AS_VIEWED = sorted(SCHEMA["items"] - _SET_FOR_TEMPLATES)


def dossier_ns(
    d: DossierLike,
    calendar: WorkCalendar,
    now: datetime,
    ref_at: datetime | None = None,
    kind: str | None = None,
    contact: bool = True,
) -> SimpleNamespace:
    """The dossier as templates see it, under the names of rules.rendering.SCHEMA; `contact=False` leaves
    out the applicant's phone and e-mail. `apology_number` and `apology_issued_at` are filled in when the
    message is rendered."""
    v = dossier_view(d, calendar, now)
    original_due, new_due = v.due_at, None
    if kind in ("overdue_apology", "overdue_notice", "new_appointment") and ref_at is not None:
        # The apology is about the appointment that was missed; the new one only if it was set for that miss.
        original_due, new_due = ref_at, v.new_due_for(ref_at)
    return SimpleNamespace(
        **{name: getattr(v, name) for name in _AS_VIEWED},
        phone_masked=v.phone_masked if contact else None,
        email=v.email if contact else None,
        original_due_at=original_due,
        new_due_at=new_due,
        apology_number=None,
        apology_issued_at=None,
        extensions=d.apology_extensions or 0,
    )


def agency_facts(a: AgencyLike) -> AgencyFacts:
    """The agency as payloads carry it; `desk_name` and the header facts may be None (templates fall back)."""
    return AgencyFacts.model_validate(a, from_attributes=True)


def agency_ns(a: AgencyLike) -> SimpleNamespace:
    """The agency as templates see it."""
    return SimpleNamespace(**agency_facts(a).model_dump())


def step_ns(
    session: Session, payload: StepPayload | None, calendar: WorkCalendar, now: datetime
) -> SimpleNamespace | None:
    """The `step` a step_overdue template sees (see rules.rendering.SCHEMA)."""
    step = session.get(DossierStep, payload.step_id) if payload is not None else None
    if step is None:
        return None
    overdue = None
    if step.deadline is not None and step.deadline < now:
        overdue = max(0, calendar.working_days_between(step.deadline.date(), now.date()))
    officer_name = None
    if step.officer_id is not None:
        officer = session.get(Officer, step.officer_id)
        officer_name = officer.name if officer else None
    return SimpleNamespace(
        unit=step.unit,
        handler_name=step.handler_name or officer_name,
        handler_title=step.handler_title,
        content=step.content,
        started_at=step.started_at,
        deadline=step.deadline,
        working_days_overdue=overdue,
    )
