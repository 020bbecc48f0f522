"""Citizens' feedback (phản ánh, kiến nghị): stored, routed to an agency with an answer deadline, and the
officers' answer sent back to the citizen's chat. Notices go through the outbox like every other message:
`feedback_received` to the agency's officers, `feedback_answer` to the citizen."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.orm import Session

from notifier.outbox.enqueue import NewNotification, enqueue
from notifier.outbox.views import agency_facts
from notifier.rules.clock import VN_TZ
from notifier.rules.kinds import Kind
from notifier.rules.payloads import AgencyFacts, FeedbackFacts, FeedbackPayload
from notifier.rules.portal import storable_text
from notifier.rules.workdays import WorkCalendar
from notifier.store import audit
from notifier.store.models import Agency, Dossier, Feedback, Notification, Officer, affected

MIN_LENGTH = 10
MAX_LENGTH = 2000
ANSWER_MAX_LENGTH = 3000  # with the quoted feedback it stays under Telegram's 4096


class FeedbackError(ValueError):
    """Bad input, naming the field and the value."""

    def __init__(self, field: str, value: object, reason: str) -> None:
        shown = value if not isinstance(value, str) or len(value) <= 40 else value[:40] + "…"
        super().__init__(f"field {field}: value {shown!r}: {reason}")
        self.field, self.value, self.reason = field, value, reason


class FeedbackLimited(FeedbackError):
    """Too much feedback lately from this chat, or about this dossier: refused until `retry_at`."""

    def __init__(self, field: str, value: object, reason: str, retry_at: datetime) -> None:
        super().__init__(field, value, reason)
        self.retry_at = retry_at


@dataclass(frozen=True)
class FeedbackLimits:
    """At most `per_chat` feedback from one chat and `per_dossier` about one dossier (from every chat)
    within `window`: a citizen has a few things to say, a spammer fills the officers' queue."""

    per_chat: int
    per_dossier: int
    window: timedelta


DEFAULT_FEEDBACK_LIMITS = FeedbackLimits(per_chat=5, per_dossier=10, window=timedelta(days=1))


def _check_limits(
    session: Session, limits: FeedbackLimits, chat_id: str, dossier: Dossier | None, now: datetime
) -> None:
    since = now - limits.window
    checks: list[tuple[str, object, ColumnElement[bool], int]] = [
        ("chat_id", chat_id, Feedback.chat_id == chat_id, limits.per_chat)
    ]
    if dossier is not None:
        checks.append(("MaHoSo", dossier.code, Feedback.dossier_id == dossier.id, limits.per_dossier))
    for field_name, value, where, limit in checks:
        count, oldest = session.execute(
            select(func.count(), func.min(Feedback.created_at)).where(where, Feedback.created_at > since)
        ).one()
        if count >= limit and oldest is not None:
            raise FeedbackLimited(
                field_name, value, f"at most {limit} feedback per {limits.window}", oldest + limits.window
            )


class FeedbackNotFound(LookupError):
    pass


class AlreadyAnswered(RuntimeError):
    pass


def clean_text(value: object, field: str, max_length: int, min_length: int = 1) -> str:
    if not isinstance(value, str):
        raise FeedbackError(field, value, "expected text")
    try:
        storable_text(value)  # a NUL was a 500 on PostgreSQL
    except ValueError as exc:
        raise FeedbackError(field, value, str(exc)) from exc
    text = unicodedata.normalize("NFC", value).strip()
    if len(text) < min_length:
        raise FeedbackError(field, value, f"at least {min_length} characters, got {len(text)}")
    if len(text) > max_length:
        raise FeedbackError(field, value, f"at most {max_length} characters, got {len(text)}")
    return text


def answer_deadline(calendar: WorkCalendar, now: datetime, working_days: int, day_end: time) -> datetime:
    """The end of the working day `working_days` working days after today."""
    day = calendar.add_working_days(now.astimezone(VN_TZ).date(), working_days)
    return datetime.combine(day, day_end, tzinfo=VN_TZ)


@dataclass(frozen=True)
class Submitted:
    feedback: Feedback
    agency_name: str | None
    officers_alerted: int


def _officers(session: Session, agency_id: int, assigned: int | None) -> list[Officer]:
    """The dossier's officer if there is one, else the agency's officers, else its heads."""
    if assigned is not None:
        officer = session.get(Officer, assigned)
        if officer is not None and officer.active:
            return [officer]
    staff = session.scalars(
        select(Officer).where(Officer.agency_id == agency_id, Officer.active).order_by(Officer.id)
    ).all()
    return [o for o in staff if not o.is_head] or list(staff)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _feedback_facts(fb: Feedback) -> FeedbackFacts:
    # The facts are the row's columns of the same names.
    return FeedbackFacts.model_validate(fb, from_attributes=True)


def _agency_facts(agency: Agency | None, fallback_name: str) -> AgencyFacts:
    if agency is None:
        return AgencyFacts(code="", name=fallback_name)
    return agency_facts(agency)


def submit(
    session: Session,
    *,
    chat_id: str,
    user_id: str | None,
    text: str,
    dossier: Dossier | None,
    default_agency_code: str | None,
    now: datetime,
    deadline_at: datetime,
    limits: FeedbackLimits = DEFAULT_FEEDBACK_LIMITS,
) -> Submitted:
    """Store the feedback and queue a `feedback_received` notice for each officer who should answer it;
    FeedbackLimited past the chat's or the dossier's limit."""
    body = clean_text(text, "text", MAX_LENGTH, MIN_LENGTH)
    _check_limits(session, limits, chat_id, dossier, now)
    agency: Agency | None
    if dossier is not None:
        agency = dossier.agency
    elif default_agency_code:
        agency = session.scalar(select(Agency).where(Agency.code == default_agency_code))
    else:
        agency = None
    fb = Feedback(
        chat_id=chat_id,
        user_id=user_id,
        dossier_id=dossier.id if dossier is not None else None,
        agency_id=agency.id if agency is not None else None,
        text=body,
        status="open",
        created_at=now,
        deadline_at=deadline_at,
    )
    session.add(fb)
    session.flush()
    officers = _officers(session, agency.id, dossier.officer_id if dossier else None) if agency else []
    payload = FeedbackPayload(feedback=_feedback_facts(fb))
    kind = Kind.FEEDBACK_RECEIVED
    for officer in officers:
        notice = NewNotification(
            f"{kind}:{fb.id}:{officer.id}",
            kind,
            dossier_id=fb.dossier_id,
            officer_id=officer.id,
            ref_at=now,
            payload=payload,
        )
        enqueue(session, notice, now)
    audit.record(
        session,
        now,
        f"telegram:{chat_id}",
        "feedback.submit",
        f"feedback:{fb.id}",
        dossier=dossier.code if dossier else None,
        agency=agency.code if agency else None,
        officers=len(officers),
    )
    session.flush()
    return Submitted(fb, agency.name if agency else None, len(officers))


def answer(
    session: Session,
    feedback_id: int,
    text: object,
    answered_by: str,
    now: datetime,
    fallback_agency_name: str,
) -> tuple[Feedback, Notification]:
    """Record the answer once and queue it for the citizen's chat (`feedback_answer`)."""
    body = clean_text(text, "answer", ANSWER_MAX_LENGTH)
    fb = session.get(Feedback, feedback_id)
    if fb is None:
        raise FeedbackNotFound(f"feedback {feedback_id}: not found")
    # The status guard makes two officers answering at once end with one answer and one 409.
    result = session.execute(
        update(Feedback)
        .where(Feedback.id == feedback_id, Feedback.status == "open")
        .values(status="answered", answer=body, answered_at=now, answered_by=answered_by)
        .execution_options(synchronize_session=False)
    )
    if not affected(result):
        raise AlreadyAnswered(f"feedback {feedback_id}: already answered")
    session.refresh(fb)
    payload = FeedbackPayload(
        chat_id=fb.chat_id,
        feedback=_feedback_facts(fb),
        agency=_agency_facts(fb.agency, fallback_agency_name),
    )
    kind = Kind.FEEDBACK_ANSWER
    key = f"{kind}:{fb.id}"
    enqueue(session, NewNotification(key, kind, dossier_id=fb.dossier_id, ref_at=now, payload=payload), now)
    # The row just queued, or the one a key already held (then the answer is not queued twice).
    notice = session.scalars(select(Notification).where(Notification.dedupe_key == key)).one()
    audit.record(session, now, answered_by, "feedback.answer", f"feedback:{fb.id}")
    session.flush()
    return fb, notice


def as_dict(fb: Feedback) -> dict[str, Any]:
    return {
        "id": fb.id,
        "status": fb.status,
        "MaHoSo": fb.dossier.code if fb.dossier else None,
        "agency": fb.agency.code if fb.agency else None,
        "text": fb.text,
        "created_at": _iso(fb.created_at),
        "deadline_at": _iso(fb.deadline_at),
        "answer": fb.answer,
        "answered_at": _iso(fb.answered_at),
        "answered_by": fb.answered_by,
    }
