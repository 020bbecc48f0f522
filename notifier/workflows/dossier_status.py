"""Read models shared by the CLI and the API."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from notifier.outbox.views import dossier_view
from notifier.rules.logmask import mask_contacts
from notifier.rules.workdays import WorkCalendar
from notifier.store.models import Dossier, Notification
from notifier.workflows.errors import NotFound
from notifier.workflows.service import Service


def dossier_status(session: Session, code: str, calendar: WorkCalendar, now: Any) -> dict[str, Any] | None:
    d = session.scalar(
        select(Dossier)
        .where(Dossier.code == code)
        .options(selectinload(Dossier.agency), selectinload(Dossier.procedure), selectinload(Dossier.officer))
    )
    if d is None:
        return None
    v = dossier_view(d, calendar, now)
    notes = session.scalars(
        select(Notification).where(Notification.dossier_id == d.id).order_by(Notification.id)
    ).all()
    return {
        "MaHoSo": v.code,
        "procedure": v.procedure_name,
        "agency": d.agency.name,
        "officer": d.officer.name if d.officer else None,
        "applicant": v.applicant_name,
        "phone": v.phone_masked,
        "status": v.status,
        "status_name": v.status_name,
        "received_at": v.received_at.isoformat() if v.received_at else None,
        "due_at": v.due_at.isoformat() if v.due_at else None,
        "overdue": v.days_overdue is not None,
        "working_days_left": v.days_left,
        "working_days_overdue": v.days_overdue,
        "fee_amount": v.fee_amount,
        "fee_paid": v.fee_paid,
        "notifications": [
            {
                "id": n.id,
                "kind": n.kind,
                "audience": n.audience,
                "status": n.status,
                "channel": n.channel,
                "attempts": n.attempts,
                "error": mask_contacts(n.error) if n.error else None,  # may name the address
                "created_at": n.created_at.isoformat(),
                "sent_at": n.sent_at.isoformat() if n.sent_at else None,
            }
            for n in notes
        ],
    }


class DossierLookup:
    """A dossier's state and its notification history, as of the service clock."""

    def __init__(self, service: Service) -> None:
        self.service = service

    def status(self, code: str) -> dict[str, Any]:
        with self.service.factory() as session:
            found = dossier_status(session, code, self.service.calendar, self.service.clock.now())
        if found is None:
            raise NotFound("MaHoSo", code, "not found", refusal="dossier_unknown")
        return found
