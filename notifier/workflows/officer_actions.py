"""What an officer can do about a dossier, for the API and the Telegram bot alike.

Each function takes a session (the caller owns the transaction), the dossier code, `now` from the
service clock and who acts; it refuses with `ActionError` naming the field and the value. Every action
goes to the audit trail and bumps the dossier's `updated_at`, so the incremental scans notice it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from notifier.rules.outbox_status import NotificationStatus
from notifier.rules.statuses import OPEN_FOR_DEADLINE, Status, status_name
from notifier.rules.workdays import WorkCalendar
from notifier.store import audit
from notifier.store.models import Dossier, DossierEvent, Notification, Officer
from notifier.workflows.apology import (
    ActionError,
    Appointment,
    clean_reason,
    parse_new_due,
    set_new_appointment,
)

__all__ = [
    "ActionError",
    "Appointment",
    "Resolved",
    "can_act",
    "cancel_queued",
    "mark_resolved",
    "officer_by_chat",
    "set_new_date",
]

def _dossier(session: Session, code: str) -> Dossier:
    d = session.scalar(select(Dossier).where(Dossier.code == code))
    if d is None:
        raise ActionError("MaHoSo", code, "not found", status=404, vi=f"Không tìm thấy hồ sơ {code}.")
    return d


def _dossier_for(session: Session, code: str, officer: Officer | None) -> Dossier:
    """The dossier, when the acting officer (if any) belongs to the agency handling it."""
    d = _dossier(session, code)
    if officer is not None and not can_act(officer, d):
        raise ActionError(
            "MaCanBo",
            officer.code,
            f"not an officer of the agency handling {code}",
            status=403,
            vi=f"Đồng chí không thuộc cơ quan giải quyết hồ sơ {code}.",
        )
    return d


def officer_by_chat(session: Session, chat_id: int | str) -> Officer | None:
    return session.scalar(
        select(Officer).where(Officer.telegram_chat_id == str(chat_id), Officer.active).order_by(Officer.id)
    )


def can_act(officer: Officer, dossier: Dossier) -> bool:
    """The assigned officer, or anyone of the dossier's agency (colleagues cover absences, heads decide)."""
    return officer.active and (officer.id == dossier.officer_id or officer.agency_id == dossier.agency_id)


def set_new_date(
    session: Session,
    code: str,
    new_due: object,
    reason: object,
    now: datetime,
    *,
    actor: str,
    source: str,
    calendar: WorkCalendar,
    number_format: str,
    default_time: time,
    officer: Officer | None = None,
) -> Appointment:
    """Set a new appointment date and reason: the apology workflow (see notifier.workflows.apology)."""
    d = _dossier_for(session, code, officer)
    when = parse_new_due(new_due, default_time)
    text = clean_reason(reason)
    missed = d.due_at
    done = set_new_appointment(
        session,
        d,
        when,
        text,
        now,
        actor=actor,
        source=source,
        calendar=calendar,
        number_format=number_format,
    )
    # Alerts still waiting about the appointment just moved would tell officers it is overdue "hẹn trả
    # <new date>": they are no longer true.
    cancel_queued(session, d.id, ("overdue_alert", "escalation"), now, "new appointment set", ref_at=missed)
    return done


def cancel_queued(
    session: Session,
    dossier_id: int,
    kinds: tuple[str, ...],
    now: datetime,
    why: str,
    ref_at: datetime | None = None,
) -> int:
    """Cancel officer alerts not yet sent that an action made pointless; rows being sent are left alone."""
    stmt = update(Notification).where(
        Notification.dossier_id == dossier_id,
        Notification.kind.in_(kinds),
        Notification.status == NotificationStatus.QUEUED,
    )
    if ref_at is not None:
        stmt = stmt.where(Notification.ref_at == ref_at)
    result = session.execute(
        stmt.values(status=NotificationStatus.CANCELLED, error=f"cancelled: {why}", updated_at=now)
    )
    return result.rowcount or 0


@dataclass
class Resolved:
    dossier: Dossier
    event: DossierEvent


def mark_resolved(
    session: Session,
    code: str,
    now: datetime,
    *,
    actor: str,
    source: str,
    note: str | None = None,
    officer: Officer | None = None,
) -> Resolved:
    """Status 9 "Đã xử lý xong" with an event, so the citizen's `result_ready` notice goes out."""
    d = _dossier_for(session, code, officer)
    if d.status == Status.RESOLVED:
        raise ActionError(
            "TrangThaiHoSo",
            d.status,
            "already marked 'Đã xử lý xong'",
            status=409,
            vi=f"Hồ sơ {code} đã được ghi nhận xử lý xong trước đó.",
        )
    if d.status not in OPEN_FOR_DEADLINE:
        raise ActionError(
            "TrangThaiHoSo",
            d.status,
            f"'{status_name(d.status)}': only a dossier the agency is processing (status 2 or 4) can be "
            "marked resolved",
            status=409,
            vi=f"Hồ sơ đang ở trạng thái '{status_name(d.status)}', không thể ghi nhận xử lý xong.",
        )
    previous = d.status
    d.status = int(Status.RESOLVED)
    d.status_changed_at = now
    d.updated_at = now
    event = DossierEvent(
        dossier_id=d.id,
        from_status=previous,
        to_status=int(Status.RESOLVED),
        occurred_at=now,
        recorded_at=now,
        source=source[:32],
        detail=note,
    )
    session.add(event)
    audit.record(
        session, now, actor, "dossier.resolved", d.code, from_status=previous, note=note, source=source
    )
    cancel_queued(session, d.id, ("due_soon", "overdue_alert", "escalation", "step_overdue"), now, "resolved")
    session.flush()
    return Resolved(d, event)
