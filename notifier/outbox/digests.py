"""What a digest lists, read when it is rendered: the recipient's dossiers in the window the scan stored,
most urgent first (see `outbox.scans.digests` for when digests are queued)."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from notifier.outbox.scans.common import open_for_deadline, when
from notifier.outbox.scans.digests import officer_scope
from notifier.outbox.views import dossier_ns
from notifier.rules.kinds import Kind
from notifier.rules.workdays import WorkCalendar
from notifier.store.models import Dossier
from notifier.store.planning import OfficerLike


def digest_items(
    session: Session,
    kind: str,
    officer: OfficerLike | None,
    until: datetime,
    calendar: WorkCalendar,
    now: datetime,
) -> list[SimpleNamespace]:
    """The `items` of a digest: the recipient's dossiers due before `until`, most urgent first."""
    if officer is None:
        return []
    if kind == Kind.HEAD_DIGEST:
        scope = Dossier.agency_id == officer.agency_id
    else:
        scope = officer_scope(officer.id, officer.agency_id)
    rows = session.scalars(
        select(Dossier)
        .where(open_for_deadline(), Dossier.due_at < when(until), scope)
        .options(selectinload(Dossier.procedure))
        .order_by(Dossier.due_at, Dossier.id)
    ).all()
    return [_item(d, calendar, now) for d in rows]


def _item(d: Dossier, calendar: WorkCalendar, now: datetime) -> SimpleNamespace:
    """One entry of `items` (SCHEMA["items"]). A digest names the applicant only (personal-data law: minimise
    personal data in staff messages), which also spares parsing thousands of phone numbers per digest."""
    return dossier_ns(d, calendar, now, contact=False)
