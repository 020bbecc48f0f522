"""What a template sees: plain namespaces built from the stored rows (see notifier.rendering.SCHEMA)."""

from __future__ import annotations

import json
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy.orm import object_session

from notifier.channels.base import Recipient
from notifier.feedback import payload_context
from notifier.models import Agency, Dossier, Notification, Officer
from notifier.phones import mask_phone
from notifier.rendering import sample_context
from notifier.statuses import status_name
from notifier.workdays import WorkCalendar


def working_days(
    calendar: WorkCalendar, due_at: datetime | None, now: datetime
) -> tuple[int | None, int | None]:
    """(working days left, working days overdue); exactly one is set when there is a due date."""
    if due_at is None:
        return None, None
    if due_at >= now:
        return calendar.working_days_between(now.date(), due_at.date()), None
    return None, max(0, calendar.working_days_between(due_at.date(), now.date()))


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


def test_target(n: Notification) -> dict[str, Any] | None:
    """The admin page's "send a test": its payload names the admin to reach and whose template to use."""
    if not n.payload:
        return None
    try:
        data = json.loads(n.payload)
    except ValueError:
        return None
    test = data.get("test") if isinstance(data, dict) else None
    return test if isinstance(test, dict) else None


def template_agency_id(n: Notification) -> int | None:
    """Whose template renders `n`: the dossier's agency, the officer's, or the one a test names."""
    test = test_target(n)
    if test is not None:
        return test.get("agency_id")
    return n.dossier.agency_id if n.dossier else (n.officer.agency_id if n.officer else None)


def build_context(n: Notification, calendar: WorkCalendar, now: datetime) -> dict[str, Any]:
    if n.dossier is None and test_target(n) is not None:
        # A test message is about no real dossier (it must not count in any dossier's history).
        return sample_context(now, n.kind)
    d = n.dossier
    officer = n.officer
    dossier = dossier_ns(d, calendar, now, n.ref_at, n.kind) if d is not None else None
    agency = agency_ns(d.agency) if d is not None else (agency_ns(officer.agency) if officer else None)
    # Feedback kinds carry the feedback (and, when it is about no dossier, its agency) in the payload.
    extra = payload_context(n.kind, n.payload)
    return {
        "dossier": dossier,
        "agency": agency or extra["agency"],
        "feedback": extra["feedback"],
        "officer": SimpleNamespace(code=officer.code, name=officer.name) if officer else None,
        "recipient_name": officer.name if officer else (d.applicant_name if d else ""),
        "working_days_left": dossier.working_days_left if dossier else None,
        "working_days_overdue": dossier.working_days_overdue if dossier else None,
        "now": now,
        "items": [],
        "step": None,
        **_officer_extras(n, dossier, calendar, now),
    }


def _officer_extras(
    n: Notification, dossier: SimpleNamespace | None, calendar: WorkCalendar, now: datetime
) -> dict[str, Any]:
    """Digest items, the overdue step, the apology slip number: read when the message is rendered."""
    session = object_session(n)
    if session is None:
        return {}
    if n.kind in ("officer_digest", "head_digest"):
        from notifier.digests import digest_items  # digests builds on this module

        return {"items": digest_items(session, n, calendar, now)}
    if n.kind == "step_overdue":
        from notifier.steps import step_ns

        return {"step": step_ns(session, n.payload, calendar, now)}
    if n.kind in ("overdue_apology", "new_appointment") and dossier is not None and n.dossier_id:
        from notifier.apology import slip_number

        dossier.apology_number = slip_number(session, n.dossier_id, n.ref_at)
    return {}


def recipient_for(n: Notification, telegram_chat_id: str | None = None) -> Recipient:
    """`telegram_chat_id`: the citizen's linked chat (notifier.bot.links), found for the whole batch."""
    test = test_target(n)
    if test is not None:
        return Recipient(
            label=f"test:{test.get('by')}",
            name=test.get("by"),
            phone=test.get("phone"),
            email=test.get("email"),
            telegram_chat_id=test.get("telegram_chat_id"),
        )
    if n.audience in ("officer", "head") and n.officer is not None:
        o: Officer = n.officer
        return Recipient(
            label=o.code, name=o.name, phone=o.phone, email=o.email, telegram_chat_id=o.telegram_chat_id
        )
    d = n.dossier
    if d is None:
        return Recipient(label="citizen", telegram_chat_id=telegram_chat_id)
    return Recipient(
        label="citizen",
        name=d.applicant_name,
        phone=d.phone,
        email=d.email,
        telegram_chat_id=telegram_chat_id,
    )
