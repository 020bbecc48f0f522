"""Inter-agency steps past their own deadline, even when the dossier as a whole is on time."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, func, literal, or_, select
from sqlalchemy.orm import Session

from notifier.outbox.scans.common import (
    dedupe_key,
    insert_with_payload,
    json_payload,
    open_for_deadline,
    queued_state,
    ts_key,
    when,
)
from notifier.rules.kinds import Kind, audience_of
from notifier.store.models import Dossier, DossierStep, Officer

STEP = Kind.STEP_OVERDUE


def scan_step_overdue(session: Session, now: datetime) -> int:
    """`step_overdue` for each open step past its deadline, to its officer or its unit's officers."""
    recipients = or_(
        Officer.id == DossierStep.officer_id,
        and_(
            DossierStep.officer_id.is_(None),
            Officer.agency_id == func.coalesce(DossierStep.unit_agency_id, Dossier.agency_id),
            ~Officer.is_head,
        ),
    )
    stmt = (
        select(
            dedupe_key(STEP, DossierStep.id, ts_key(session, DossierStep.deadline), Officer.id),
            literal(str(STEP)),
            literal(str(audience_of(STEP))),
            Dossier.id,
            Officer.id,
            DossierStep.deadline,
            json_payload("step_id", DossierStep.id),
            *queued_state(now),
        )
        .join_from(DossierStep, Dossier, DossierStep.dossier_id == Dossier.id)
        .join(Officer, recipients)
        .where(
            DossierStep.finished_at.is_(None),
            DossierStep.deadline < when(now),
            open_for_deadline(),
            Officer.active,
        )
    )
    return insert_with_payload(session, stmt)
