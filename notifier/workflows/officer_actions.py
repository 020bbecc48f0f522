"""What an officer can do about a dossier: set a new appointment date (the apology), print its slip, mark
it resolved. The API, the command line and the Telegram bot each call one method of `ApologyWorkflow` or
`ResolveWorkflow`, which own the transaction, the settings, the officer look-up and the audit entry.

The module-level functions are their building blocks: each takes a session (the caller owns the
transaction), the dossier code, `now` from the service clock and who acts, and refuses with a domain error
(notifier.workflows.errors) naming the field and the value. Every action goes to the audit trail and bumps
the dossier's `updated_at`, so the incremental scans notice it.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, time
from typing import Literal, Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from notifier.config import Settings
from notifier.outbox.callbacks import queue_changes
from notifier.rules.chat_keys import chat_id_of, platform_of
from notifier.rules.clock import Clock
from notifier.rules.outbox_status import NotificationStatus
from notifier.rules.statuses import OPEN_FOR_DEADLINE, Status, status_name
from notifier.rules.workdays import WorkCalendar
from notifier.store import audit
from notifier.store.models import Dossier, DossierEvent, Notification, Officer
from notifier.store.queries import slips_for
from notifier.workflows.apology import (
    Appointment,
    clean_reason,
    parse_new_due,
    render_slip_html,
    render_slip_pdf,
    set_new_appointment,
)
from notifier.workflows.errors import InvalidInput, NotAllowed, NotFound, WrongState

__all__ = [
    "DEADLINE_ALERTS",
    "MOVED_ALERTS",
    "Actor",
    "ApologyWorkflow",
    "Appointment",
    "NewDate",
    "OfficerWorkflow",
    "Resolution",
    "ResolveWorkflow",
    "Resolved",
    "SlipDocument",
    "Wiring",
    "can_act",
    "cancel_queued",
    "mark_resolved",
    "officer_by_chat",
    "set_new_date",
]


# Officer alerts about a dossier's appointment: pointless once the dossier has left 2/4 (resolved, stopped,
# waiting for the citizen…); and those about one appointment, once it has been moved.
DEADLINE_ALERTS = ("due_soon", "apology_due", "overdue_alert", "escalation", "step_overdue")
MOVED_ALERTS = ("apology_due", "overdue_alert", "escalation")


def _dossier(session: Session, code: str) -> Dossier:
    d = session.scalar(select(Dossier).where(Dossier.code == code))
    if d is None:
        raise NotFound("MaHoSo", code, "not found", refusal="dossier_unknown")
    return d


def _dossier_for(session: Session, code: str, officer: Officer | None) -> Dossier:
    """The dossier, when the acting officer (if any) belongs to the agency handling it."""
    d = _dossier(session, code)
    if officer is not None and not can_act(officer, d):
        raise NotAllowed(
            "MaCanBo",
            officer.code,
            f"not an officer of the agency handling {code}",
            refusal="other_agency",
            dossier=code,
        )
    return d


def officer_by_chat(session: Session, chat_id: int | str) -> Officer | None:
    """The officer writing from this conversation: a bare id is a Telegram chat (TelegramChatId), a
    "zalo_oa:<user id>" key the Zalo account the officer linked with a one-time code."""
    key = str(chat_id)
    if platform_of(key) == "zalo_oa":
        return session.scalar(
            select(Officer)
            .where(Officer.zalo_user_id == chat_id_of(key), Officer.active)
            .order_by(Officer.id)
        )
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
    cancel_queued(session, d.id, MOVED_ALERTS, now, "new appointment set", ref_at=missed)
    return done


def cancel_queued(
    session: Session,
    dossier_id: int | Collection[int],
    kinds: tuple[str, ...],
    now: datetime,
    why: str,
    ref_at: datetime | None = None,
) -> int:
    """Cancel officer alerts not yet sent that an action made pointless; rows being sent are left alone.
    `dossier_id` may be several ids (an import's batch)."""
    ids = [dossier_id] if isinstance(dossier_id, int) else list(dossier_id)
    if not ids:
        return 0
    stmt = update(Notification).where(
        Notification.dossier_id.in_(ids),
        Notification.kind.in_(kinds),
        Notification.status == NotificationStatus.QUEUED,
    )
    if ref_at is not None:
        stmt = stmt.where(Notification.ref_at == ref_at)
    cancelled = session.scalars(
        stmt.values(status=NotificationStatus.CANCELLED, error=f"cancelled: {why}", updated_at=now).returning(
            Notification.id
        )
    ).all()
    queue_changes(session, cancelled)  # the one-stop system hears "cancelled" (outbox.callbacks)
    return len(cancelled)


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
        raise WrongState(
            "TrangThaiHoSo",
            d.status,
            "already marked 'Đã xử lý xong'",
            refusal="already_resolved",
            dossier=code,
        )
    if d.status not in OPEN_FOR_DEADLINE:
        raise WrongState(
            "TrangThaiHoSo",
            d.status,
            f"'{status_name(d.status)}': only a dossier the agency is processing (status 2 or 4) can be "
            "marked resolved",
            refusal="resolve_status",
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
    cancel_queued(session, d.id, DEADLINE_ALERTS, now, "resolved")
    session.flush()
    return Resolved(d, event)


# ------------------------------------------------------------------------------------------------ services


@dataclass(frozen=True)
class Actor:
    """Who acts, as the interface knows them.

    `source` is the interface ("api", "cli", "telegram"), recorded on slips and events; an API call also
    names its key (`caller`). The officer is named by code (`officer`, MaCanBo) or, in Telegram, by the chat
    they write from (`chat_id`, their TelegramChatId). When an officer is named, the dossier must be theirs
    or their agency's; without one the caller is trusted (the portal, an administrator at the console).
    """

    source: str
    caller: str | None = None
    officer: str | None = None
    chat_id: int | str | None = None


@dataclass(frozen=True)
class NewDate:
    """A new appointment set: the Mẫu 04 issued (or corrected) for it. `extension_no` counts the dossier's
    extensions; the rules allow one, so a second is recorded but not `compliant`."""

    code: str
    number: str
    old_due_at: datetime
    new_due_at: datetime
    reason: str
    corrected: bool
    extension_no: int = 1

    @property
    def compliant(self) -> bool:
        return self.extension_no <= 1


@dataclass(frozen=True)
class Resolution:
    code: str
    status: int
    at: datetime


@dataclass(frozen=True)
class SlipDocument:
    number: str
    content: bytes
    media_type: str


def _acting_officer(session: Session, by: Actor) -> Officer | None:
    if by.chat_id is not None:
        officer = officer_by_chat(session, by.chat_id)
        if officer is None:
            raise NotAllowed(
                "TelegramChatId",
                by.chat_id,
                "not the Telegram chat of an active officer",
                refusal="not_an_officer",
            )
        return officer
    if not by.officer:
        return None
    officer = session.scalar(select(Officer).where(Officer.code == by.officer))
    if officer is None:
        raise InvalidInput("officer", by.officer, "unknown officer code (MaCanBo)", refusal="officer_unknown")
    return officer


def _audit_actor(by: Actor, officer: Officer | None) -> str:
    # e.g. "api:portal:CB01", "cli", "telegram:CB01": the interface, the API key, the officer
    return ":".join(p for p in (by.source, by.caller, officer.code if officer else None) if p)


class Wiring(Protocol):
    """What the officers' workflows use of `notifier.workflows.service.Service`. The Telegram bot's own deps
    carry the same four, so its officer buttons work in a dispatcher that was handed no Service."""

    # Read-only members, so frozen dataclasses (the bot's deps) satisfy the protocol as well as Service.
    @property
    def factory(self) -> sessionmaker[Session]: ...
    @property
    def settings(self) -> Settings: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def calendar(self) -> WorkCalendar: ...


class OfficerWorkflow:
    """What the officers' workflows share: the service, and whether an officer may act on a dossier."""

    def __init__(self, service: Wiring) -> None:
        self.service = service

    def may_act(self, dossier_id: int, by: Actor) -> str:
        """The code of the dossier with this id, when `by` may act on it (a chat button names the id)."""
        with self.service.factory() as session:
            officer = _acting_officer(session, by)
            dossier = session.get(Dossier, dossier_id)
            if dossier is None:
                raise NotFound("id", dossier_id, "no dossier with this id", refusal="dossier_unknown")
            return _dossier_for(session, dossier.code, officer).code


class ApologyWorkflow(OfficerWorkflow):
    """A new appointment date with its reason, and the numbered slip (notifier.workflows.apology)."""

    def set_new_date(self, code: str, new_due: object, reason: object, by: Actor) -> NewDate:
        """Move the appointment, issue (or correct) the slip; the scans send the citizen's apology once."""
        service, s = self.service, self.service.settings
        with service.factory() as session, session.begin():
            officer = _acting_officer(session, by)
            done = set_new_date(
                session,
                code,
                new_due,
                reason,
                service.clock.now(),
                actor=_audit_actor(by, officer),
                source=by.source,
                calendar=service.calendar,
                number_format=s.apology.number_format,
                default_time=s.working_hours.end,
                officer=officer,
            )
            slip = done.slip
            return NewDate(
                code,
                slip.number,
                slip.old_due_at,
                slip.new_due_at,
                slip.reason,
                done.corrected,
                slip.extension_no,
            )

    def slip(
        self, code: str, number: str | None = None, fmt: Literal["html", "pdf"] = "html"
    ) -> SlipDocument:
        """The dossier's latest slip (or the one numbered `number`) as a printable page or a PDF.

        Raises `PdfUnavailable` when no font with Vietnamese glyphs is found (a set-up problem, not a
        refusal)."""
        if fmt not in ("html", "pdf"):
            raise InvalidInput("format", fmt, "expected html or pdf", refusal="slip_format")
        settings = self.service.settings
        with self.service.factory() as session:
            slips = slips_for(session, code)
        if number is not None:
            slips = [s for s in slips if s.number == number]
        if not slips:
            numbered = f" numbered '{number}'" if number is not None else ""
            raise NotFound("MaHoSo", code, "no apology slip" + numbered, refusal="no_slip")
        slip, province = slips[-1], settings.province.name
        if fmt == "pdf":
            pdf = render_slip_pdf(slip, province, settings.apology.pdf_font)
            return SlipDocument(slip.number, pdf, "application/pdf")
        return SlipDocument(slip.number, render_slip_html(slip, province).encode("utf-8"), "text/html")


class ResolveWorkflow(OfficerWorkflow):
    """Status 9 "Đã xử lý xong", set by an officer; the citizen's `result_ready` notice follows."""

    def resolve(self, code: str, by: Actor, note: str | None = None) -> Resolution:
        service = self.service
        with service.factory() as session, session.begin():
            officer = _acting_officer(session, by)
            done = mark_resolved(
                session,
                code,
                service.clock.now(),
                actor=_audit_actor(by, officer),
                source=by.source,
                note=note,
                officer=officer,
            )
            return Resolution(code, done.dossier.status, done.event.occurred_at)
