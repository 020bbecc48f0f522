"""A dossier as the floors above see it: the one view of a stored row (rules.dossier_view), and the plain
namespaces templates read (see rules.rendering.SCHEMA)."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace

from sqlalchemy.orm import Session

from notifier.rules.dossier_view import DossierRecord, DossierView, view_dossier
from notifier.rules.payloads import AgencyFacts, StepPayload
from notifier.rules.workdays import WorkCalendar
from notifier.store.models import DossierStep, Officer
from notifier.store.planning import AgencyLike, DossierLike


def dossier_record(d: DossierLike) -> DossierRecord:
    """The row's own values (reads `d.procedure`)."""
    return DossierRecord(
        code=d.code,
        procedure_code=d.procedure.code,
        procedure_name=d.procedure.name,
        applicant_name=d.applicant_name,
        applicant_kind=d.applicant_kind,
        phone=d.phone,
        email=d.email,
        status=d.status,
        received_at=d.received_at,
        due_at=d.due_at,
        returned_at=d.returned_at,
        fee_amount=d.fee_amount,
        fee_paid=d.fee_paid,
        payment_link=d.payment_link,
        supplement_note=d.supplement_note,
        delay_reason=d.delay_reason,
        apology_old_due_at=d.apology_old_due_at,
        apology_new_due_at=d.apology_new_due_at,
    )


def dossier_view(d: DossierLike, calendar: WorkCalendar, now: datetime) -> DossierView:
    """What is shown about the stored dossier `d` at `now` (see rules.dossier_view)."""
    return view_dossier(dossier_record(d), calendar, now)


def dossier_ns(
    d: DossierLike,
    calendar: WorkCalendar,
    now: datetime,
    ref_at: datetime | None = None,
    kind: str | None = None,
    contact: bool = True,
) -> SimpleNamespace:
    """The dossier as templates see it, under the names of rules.rendering.SCHEMA; `contact=False` leaves
    out the applicant's phone and e-mail. `apology_number` is filled in when the message is rendered."""
    v = dossier_view(d, calendar, now)
    original_due, new_due = v.due_at, None
    if kind in ("overdue_apology", "overdue_notice", "new_appointment") and ref_at is not None:
        # The apology is about the appointment that was missed; the new one only if it was set for that miss.
        original_due, new_due = ref_at, v.new_due_for(ref_at)
    return SimpleNamespace(
        code=v.code,
        procedure_code=v.procedure_code,
        procedure_name=v.procedure_name,
        applicant_name=v.applicant_name,
        applicant_kind=v.applicant_kind,
        phone_masked=v.phone_masked if contact else None,
        email=v.email if contact else None,
        status=v.status,
        status_name=v.status_name,
        received_at=v.received_at,
        due_at=v.due_at,
        returned_at=v.returned_at,
        fee_amount=v.fee_amount,
        fee_paid=v.fee_paid,
        payment_link=v.payment_link,
        supplement_note=v.supplement_note,
        delay_reason=v.delay_reason,
        original_due_at=original_due,
        new_due_at=new_due,
        apology_number=None,
        extensions=d.apology_extensions or 0,
        working_days_left=v.working_days_left,
        working_days_overdue=v.working_days_overdue,
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
