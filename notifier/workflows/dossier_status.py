"""Read models shared by the CLI and the API."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from notifier.rules.phones import mask_phone
from notifier.rules.statuses import OPEN_FOR_DEADLINE, status_name
from notifier.rules.workdays import WorkCalendar, working_days
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
    left, overdue = working_days(calendar, d.due_at, now)
    is_open = d.status in OPEN_FOR_DEADLINE
    notes = session.scalars(
        select(Notification).where(Notification.dossier_id == d.id).order_by(Notification.id)
    ).all()
    return {
        "MaHoSo": d.code,
        "procedure": d.procedure.name,
        "agency": d.agency.name,
        "officer": d.officer.name if d.officer else None,
        "applicant": d.applicant_name,
        "phone": mask_phone(d.phone) if d.phone else None,
        "status": d.status,
        "status_name": status_name(d.status),
        "received_at": d.received_at.isoformat() if d.received_at else None,
        "due_at": d.due_at.isoformat() if d.due_at else None,
        "overdue": bool(is_open and overdue is not None),
        "working_days_left": left if is_open else None,
        "working_days_overdue": overdue if is_open else None,
        "fee_amount": d.fee_amount,
        "fee_paid": d.fee_paid,
        "notifications": [
            {
                "id": n.id,
                "kind": n.kind,
                "audience": n.audience,
                "status": n.status,
                "channel": n.channel,
                "attempts": n.attempts,
                "error": n.error,
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
