"""Daily digests: one message per officer (`officer_digest`) and per head of agency (`head_digest`).

On working days, from `[digest] time`, the scan queues one digest per officer who has dossiers due within
`[digest] due_soon_working_days` working days or already overdue, and one per head whose agency has any;
the dedupe key carries the officer and the day, so a day never gets two. The scan stores the window's end
in the notification's payload; the list itself is read when the message is rendered, so it shows the
dossiers as they are when it goes out (most urgent first, overdue ones at the top)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, String, and_, literal, or_, select, true
from sqlalchemy.orm import Session

from notifier.config import DigestSettings
from notifier.outbox.scans.common import (
    day_start,
    dedupe_key,
    insert_with_payload,
    open_for_deadline,
    queued_state,
    when,
)
from notifier.rules.clock import VN_TZ
from notifier.rules.kinds import DIGEST_KINDS, Audience, Kind, audience_of
from notifier.rules.payloads import DigestPayload
from notifier.rules.workdays import WorkCalendar
from notifier.store.models import Dossier, Officer


def officer_scope(
    officer_id: ColumnElement[int] | int, agency_id: ColumnElement[int] | int
) -> ColumnElement[bool]:
    """The same rule as the officer alerts: assigned to the officer, or unassigned in the officer's agency."""
    return or_(
        Dossier.officer_id == officer_id,
        and_(Dossier.officer_id.is_(None), Dossier.agency_id == agency_id),
    )


def window_end(now: datetime, calendar: WorkCalendar, days: int) -> datetime:
    """Dossiers due before this moment have at most `days` working days left (or are overdue)."""
    return day_start(calendar.due_soon_cutoff(now.astimezone(VN_TZ).date(), days) + timedelta(days=1))


def scan_digests(
    session: Session,
    now: datetime,
    cfg: DigestSettings,
    calendar: WorkCalendar,
    since: datetime | None = None,
) -> dict[str, int]:
    """`since`: the previous scan's time on an incremental scan; the day's digests are queued by the first
    scan after the digest time (a full scan tries again, for officers added later in the day)."""
    queued = {str(k): 0 for k in DIGEST_KINDS}
    local = now.astimezone(VN_TZ)
    if not cfg.enabled or not calendar.is_working_day(local.date()) or local.time() < cfg.at:
        return queued
    if since is not None and since >= datetime.combine(local.date(), cfg.at, tzinfo=VN_TZ):
        return queued  # an earlier scan today already passed the digest time
    until = window_end(now, calendar, cfg.due_soon_working_days)
    payload = literal(DigestPayload(day=local.date(), until=until).dump(), String)
    day = local.strftime("%Y%m%d")
    in_window = and_(open_for_deadline(), Dossier.due_at < when(until))
    # Sets computed once (one range scan of the status/due index), not an EXISTS per officer: with a
    # million dossiers the correlated form took seconds on every scan of the day.
    assigned = select(Dossier.officer_id).where(in_window, Dossier.officer_id.is_not(None))
    pooled = select(Dossier.agency_id).where(in_window, Dossier.officer_id.is_(None))
    has_own = or_(Officer.id.in_(assigned), Officer.agency_id.in_(pooled))
    has_agency = Officer.agency_id.in_(select(Dossier.agency_id).where(in_window))

    conditions = {Kind.OFFICER_DIGEST: has_own, Kind.HEAD_DIGEST: has_agency}
    for kind in DIGEST_KINDS:
        audience = audience_of(kind)
        heads = audience is Audience.HEAD
        stmt = select(
            dedupe_key(kind, day, Officer.id),
            literal(str(kind), String),
            literal(str(audience), String),
            literal(None),
            Officer.id,
            when(now),
            payload,
            *queued_state(now),
        ).where(
            Officer.active,
            Officer.is_head if heads else ~Officer.is_head,
            true() if cfg.send_empty else conditions[kind],
        )
        queued[str(kind)] = insert_with_payload(session, stmt)
    return queued
