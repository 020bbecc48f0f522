"""Small read queries the outbox and the workflows share."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from notifier.store.models import ApologySlip


def slip_number_and_date(
    session: Session, dossier_id: int, old_due: datetime | None
) -> tuple[str, datetime] | None:
    """The number and issue time of the slip for one missed appointment, for the citizen's messages (the
    printed document is dated by the same `issued_at`)."""
    if old_due is None:
        return None
    row = session.execute(
        select(ApologySlip.number, ApologySlip.issued_at).where(
            ApologySlip.dossier_id == dossier_id, ApologySlip.old_due_at == old_due
        )
    ).first()
    return (row.number, row.issued_at) if row is not None else None


def slips_for(session: Session, code: str) -> list[ApologySlip]:
    return list(
        session.scalars(
            select(ApologySlip).where(ApologySlip.dossier_code == code).order_by(ApologySlip.issued_at)
        )
    )
