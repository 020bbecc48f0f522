"""A dossier as the floors above see it: plain namespaces built from the stored rows, the shape templates
read (see rules.rendering.SCHEMA)."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace

from sqlalchemy.orm import Session

from notifier.rules.payloads import StepPayload
from notifier.rules.phones import mask_phone
from notifier.rules.statuses import status_name
from notifier.rules.workdays import WorkCalendar, working_days
from notifier.store.models import Agency, Dossier, DossierStep, Officer


def dossier_ns(
    d: Dossier,
    calendar: WorkCalendar,
    now: datetime,
    ref_at: datetime | None = None,
    kind: str | None = None,
    contact: bool = True,
) -> SimpleNamespace:
    """The dossier as templates see it; `contact=False` leaves out the applicant's phone and e-mail."""
    original_due = d.due_at
    new_due = None
    if kind in ("overdue_apology", "new_appointment") and ref_at is not None:
        # The apology is about the appointment that was missed; the new one only if it was set for that miss.
        original_due = ref_at
        if d.apology_old_due_at == ref_at:
            new_due = d.apology_new_due_at
    left, overdue = working_days(calendar, d.due_at, now)
    return SimpleNamespace(
        code=d.code,
        procedure_code=d.procedure.code,
        procedure_name=d.procedure.name,
        applicant_name=d.applicant_name,
        applicant_kind="business" if d.applicant_kind == 2 else "citizen",
        phone_masked=mask_phone(d.phone) if d.phone and contact else None,
        email=d.email if contact else None,
        status=d.status,
        status_name=status_name(d.status),
        received_at=d.received_at,
        due_at=d.due_at,
        returned_at=d.returned_at,
        fee_amount=d.fee_amount,
        fee_paid=d.fee_paid,
        payment_link=d.payment_link,
        supplement_note=d.supplement_note,
        delay_reason=d.delay_reason,
        original_due_at=original_due,
        new_due_at=new_due,
        apology_number=None,
        working_days_left=left,
        working_days_overdue=overdue,
    )


def agency_ns(a: Agency) -> SimpleNamespace:
    return SimpleNamespace(code=a.code, name=a.name, phone=a.phone, address=a.address)


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
