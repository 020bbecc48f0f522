"""Citizen notices for the status changes recorded since the last scan."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

from notifier.outbox.scans.common import dedupe_key, insert_rows, row_values, when
from notifier.rules.kinds import STATUS_KINDS, Audience
from notifier.store.models import Dossier, DossierEvent

# How old a status change may be and still be announced: importing last year's archive must not text
# everybody about dossiers returned months ago.
STATUS_NOTICE_MAX_AGE = timedelta(days=3)


def scan_status_changes(session: Session, now: datetime) -> int:
    """Citizen notices for status changes recorded since the last scan."""
    high = session.scalar(select(func.max(DossierEvent.id)).where(DossierEvent.pending))
    if high is None:
        return 0
    kinds = STATUS_KINDS
    kind_expr = case(*[(DossierEvent.to_status == int(code), str(kind)) for code, kind in kinds.items()])
    stmt = (
        select(
            *row_values(
                dedupe_key(kind_expr, Dossier.id, "e", DossierEvent.id),
                kind_expr,
                Audience.CITIZEN,  # every status notice is a citizen's (tests/test_vocabulary.py)
                None,
                DossierEvent.occurred_at,
                now,
            )
        )
        .join_from(DossierEvent, Dossier, DossierEvent.dossier_id == Dossier.id)
        .where(
            DossierEvent.pending,
            DossierEvent.id <= high,
            DossierEvent.to_status.in_([int(c) for c in kinds]),
            # the status must still be current: 2 then 4 within one scan is not worth a "received" text
            Dossier.status == DossierEvent.to_status,
            DossierEvent.occurred_at >= when(now - STATUS_NOTICE_MAX_AGE),
        )
    )
    queued = insert_rows(session, stmt)
    session.execute(
        update(DossierEvent).where(DossierEvent.pending, DossierEvent.id <= high).values(pending=False)
    )
    return queued
