"""Small read queries the outbox and the workflows share."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from notifier.store.models import ApologySlip


def slip_number(session: Session, dossier_id: int, old_due: datetime | None) -> str | None:
    """The number of the slip for one missed appointment, for the citizen's messages."""
    if old_due is None:
        return None
    return session.scalar(
        select(ApologySlip.number).where(
            ApologySlip.dossier_id == dossier_id, ApologySlip.old_due_at == old_due
        )
    )


def slips_for(session: Session, code: str) -> list[ApologySlip]:
    return list(
        session.scalars(
            select(ApologySlip).where(ApologySlip.dossier_code == code).order_by(ApologySlip.issued_at)
        )
    )
