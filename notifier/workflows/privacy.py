"""Data-subject requests (see, correct, erase, withdraw consent) and the processing record.

Every interface calls this module: the Telegram bot for the citizen, the CLI and the admin page for an
officer or admin acting on the citizen's behalf, and later the web page and Zalo. A request is recorded with
its answer deadline (`[privacy] answer_working_days` working days, ending with the working day), audited,
listed for admins, and carried out by `carry_out`:

- access: everything notifier holds about the subject, returned (and kept in the request's outcome);
- correct: a name, phone or e-mail set on the subject's dossiers (the portal's field names);
- erase: names, phones, e-mails, message texts and addresses, chat links, contacts and feedback texts go;
  the rows stay, so the reports still count dossiers, messages and feedback (as retention does);
- withdraw: every medium of the subject is opted out and its consents closed; chat links stop.

The subject is a phone number (E.164), a dossier code, or a chat (the bot: the phones and dossiers the chat
proved, see `workflows.chat`).
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Delete, Update, case, delete, false, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from notifier.config import Settings
from notifier.outbox.callbacks import queue_changes
from notifier.outbox.links import ZALO_OA
from notifier.rules.chat_keys import chat_id_of, conversation_key, platform_of
from notifier.rules.clock import Clock
from notifier.rules.outbox_status import FINAL_STATUSES, NotificationStatus
from notifier.rules.phones import InvalidPhone, mask_phone, normalize_phone
from notifier.rules.portal import email_value, storable_text
from notifier.rules.privacy import (
    CORRECTABLE,
    ERASED_NAME,
    RequestChannel,
    RequestKind,
    RequestStatus,
)
from notifier.rules.workdays import WorkCalendar
from notifier.store import audit
from notifier.store.contacts import record_opt_out
from notifier.store.models import (
    ApologySlip,
    ChatFormState,
    ChatLink,
    ChatPreference,
    ConsentRecord,
    Contact,
    DeliveryAttempt,
    Dossier,
    Feedback,
    InboundMessage,
    LookupFailure,
    Notification,
    PrivacyRequest,
    ZaloFollower,
    ZaloInboxEvent,
    affected,
)
from notifier.workflows.errors import InvalidInput, NotFound, WrongState
from notifier.workflows.feedback import answer_deadline
from notifier.workflows.service import Service

ERASED = "[đã xoá theo yêu cầu của chủ thể dữ liệu]"
MAX_DETAIL = 2000


def _enum(enum: type[Any], field: str, value: object) -> Any:
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(str(m) for m in enum)
        raise InvalidInput(field, value, f"expected one of {allowed}", refusal="unknown_value") from None


def _phone(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    try:
        return normalize_phone(value)
    except InvalidPhone as exc:
        raise InvalidInput("phone", value, exc.reason, refusal="bad_phone") from exc


@dataclass(frozen=True)
class Subject:
    """Whose data: phones, dossier ids, chats and e-mail addresses, found when the request is carried out."""

    phones: frozenset[str]
    dossier_ids: frozenset[int]
    chat_ids: frozenset[str]
    emails: frozenset[str]

    @property
    def empty(self) -> bool:
        return not (self.phones or self.dossier_ids or self.chat_ids)


def _chat_subject(session: Session, chat_id: str) -> tuple[set[str], set[int]]:
    """The phones a chat proved (shared contact) and the dossiers it subscribed to (proved digits)."""
    rows = session.execute(
        select(ChatLink.phone, ChatLink.dossier_id).where(ChatLink.chat_id == chat_id)
    ).all()
    return {p for p, _ in rows if p}, {d for _, d in rows if d is not None}


def subject_of(session: Session, req: PrivacyRequest) -> Subject:
    phones: set[str] = {req.phone} if req.phone and req.phone.startswith("+") else set()
    dossier_ids: set[int] = set()
    chat_ids: set[str] = {req.chat_id} if req.chat_id else set()
    if req.chat_id:
        chat_phones, chat_dossiers = _chat_subject(session, req.chat_id)
        phones |= chat_phones
        dossier_ids |= chat_dossiers
    if req.dossier_code:
        found = session.scalar(select(Dossier.id).where(Dossier.code == req.dossier_code))
        if found is not None:
            dossier_ids.add(found)
    if phones:
        dossier_ids |= set(session.scalars(select(Dossier.id).where(Dossier.phone.in_(phones))))
        chat_ids |= {c for c in session.scalars(select(ChatLink.chat_id).where(ChatLink.phone.in_(phones)))}
    if dossier_ids:
        chat_ids |= {
            c for c in session.scalars(select(ChatLink.chat_id).where(ChatLink.dossier_id.in_(dossier_ids)))
        }
    if phones:
        # A Zalo follower who shared one of the phones is routed by it (outbox.links.zalo_user_ids).
        chat_ids |= {
            conversation_key(ZALO_OA, u)
            for u in session.scalars(select(ZaloFollower.user_id).where(ZaloFollower.phone.in_(phones)))
        }
    emails = (
        {e for e in session.scalars(select(Dossier.email).where(Dossier.id.in_(dossier_ids))) if e}
        if dossier_ids
        else set()
    )
    return Subject(frozenset(phones), frozenset(dossier_ids), frozenset(chat_ids), frozenset(emails))


def submit(
    session: Session,
    *,
    kind: object,
    channel: object,
    requested_by: str,
    now: datetime,
    deadline_at: datetime,
    phone: str | None = None,
    dossier_code: str | None = None,
    chat_id: str | None = None,
    detail: str | None = None,
) -> PrivacyRequest:
    """Record a request with its deadline and audit it. The subject must be named (phone, dossier, chat)."""
    kind_ = _enum(RequestKind, "kind", kind)
    channel_ = _enum(RequestChannel, "channel", channel)
    e164 = _phone(phone)
    code = dossier_code.strip() if dossier_code and dossier_code.strip() else None
    if code is not None and session.scalar(select(Dossier.id).where(Dossier.code == code)) is None:
        raise NotFound("dossier", code, "no dossier with this MaHoSo", refusal="unknown_dossier")
    if chat_id is not None:
        phones, dossiers = _chat_subject(session, chat_id)
        if not phones and not dossiers:
            raise WrongState(
                "chat_id", chat_id, "the chat is linked to no phone or dossier", refusal="not_linked"
            )
        if e164 is None and len(phones) == 1:
            e164 = next(iter(phones))
    if e164 is None and code is None and chat_id is None:
        raise InvalidInput(
            "phone", phone, "name the data subject: a phone or a dossier", refusal="no_subject"
        )
    text = unicodedata.normalize("NFC", detail).strip() if detail and detail.strip() else None
    if text is not None and len(text) > MAX_DETAIL:
        raise InvalidInput("detail", text[:40] + "…", f"at most {MAX_DETAIL} characters, got {len(text)}")
    try:
        storable_text(text)  # a NUL was a 500 on PostgreSQL
    except ValueError as exc:
        raise InvalidInput("detail", text, str(exc)) from exc
    req = PrivacyRequest(
        kind=str(kind_),
        channel=str(channel_),
        phone=e164,
        dossier_code=code,
        chat_id=chat_id,
        requested_by=requested_by,
        detail=text,
        status=str(RequestStatus.OPEN),
        created_at=now,
        deadline_at=deadline_at,
    )
    session.add(req)
    session.flush()
    audit.record(
        session,
        now,
        requested_by,
        "privacy.request",
        f"privacy_request:{req.id}",
        kind=str(kind_),
        channel=str(channel_),
        phone=mask_phone(e164) if e164 else None,
        dossier=code,
        deadline=deadline_at.isoformat(),
    )
    return req


def _open_request(session: Session, request_id: int) -> PrivacyRequest:
    req = session.get(PrivacyRequest, request_id)
    if req is None:
        raise NotFound("id", request_id, "no privacy request with this id", refusal="unknown_request")
    if req.status != RequestStatus.OPEN:
        raise WrongState("id", request_id, f"already {req.status}", refusal="not_open", status=req.status)
    return req


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _in(column: Any, values: frozenset[Any]) -> ColumnElement[bool]:
    return column.in_(sorted(values)) if values else false()


def _access(session: Session, s: Subject) -> dict[str, Any]:
    """Everything held about the subject, as the subject would be given it."""
    dossiers = session.scalars(select(Dossier).where(_in(Dossier.id, s.dossier_ids)).order_by(Dossier.id))
    addresses = s.phones | s.chat_ids | s.emails
    contacts = session.scalars(select(Contact).where(_in(Contact.address, addresses)).order_by(Contact.id))
    consents = session.scalars(
        select(ConsentRecord).where(_in(ConsentRecord.address, addresses)).order_by(ConsentRecord.id)
    )
    links = session.scalars(
        select(ChatLink)
        .where(or_(_in(ChatLink.chat_id, s.chat_ids), _in(ChatLink.phone, s.phones)))
        .order_by(ChatLink.id)
    )
    messages = session.execute(
        select(Notification.channel, func.count())
        .where(_in(Notification.dossier_id, s.dossier_ids))
        .group_by(Notification.channel)
        .order_by(Notification.channel)
    ).all()
    feedback = session.scalar(
        select(func.count()).select_from(Feedback).where(_in(Feedback.chat_id, s.chat_ids))
    )
    slips = session.scalars(
        select(ApologySlip).where(_in(ApologySlip.dossier_id, s.dossier_ids)).order_by(ApologySlip.id)
    )
    inbound = session.scalars(
        select(InboundMessage).where(_in(InboundMessage.sender, s.phones)).order_by(InboundMessage.id)
    )
    zalo_users = _zalo_users(s)
    followers = session.scalars(
        select(ZaloFollower)
        .where(_in(ZaloFollower.phone, s.phones) | _in(ZaloFollower.user_id, zalo_users))
        .order_by(ZaloFollower.id)
    ).all()
    # What the subject sent the OA, as Zalo delivered it: their messages and the shared-info forms (name,
    # phone); not the receipts of what the OA sent. The user ids an erasure takes (subject_of: the chats,
    # and the followers who shared one of the phones).
    sent = session.scalars(
        select(ZaloInboxEvent)
        .where(
            _in(ZaloInboxEvent.user_id, zalo_users),
            ZaloInboxEvent.event_name.startswith("user_send_", autoescape=True)
            | (ZaloInboxEvent.event_name == "user_submit_info"),
        )
        .order_by(ZaloInboxEvent.id)
    )
    return {
        "dossiers": [
            {
                "MaHoSo": d.code,
                "TenTTHC": d.procedure.name,
                "ChuHoSo": d.applicant_name,
                "SoDienThoai": d.phone,
                "Email": d.email,
                "NgayTiepNhan": _iso(d.received_at),
                "TrangThaiHoSo": d.status,
            }
            for d in dossiers
        ],
        "chat_links": [
            {"chat_id": c.chat_id, "phone": c.phone, "active": c.active, "consent_at": _iso(c.consent_at)}
            for c in links
        ],
        "contacts": [
            {
                "address": c.address,
                "medium": c.medium,
                "consent_at": _iso(c.consent_at),
                "opted_out_at": _iso(c.opted_out_at),
            }
            for c in contacts
        ],
        "consents": [
            {
                "address": c.address,
                "medium": c.medium,
                "purpose": c.purpose,
                "channel": c.channel,
                "given_at": _iso(c.given_at),
                "withdrawn_at": _iso(c.withdrawn_at),
            }
            for c in consents
        ],
        "messages": {channel or "": count for channel, count in messages},
        "feedback": feedback or 0,
        "apology_documents": [
            {
                "number": a.number,
                "MaHoSo": a.dossier_code,
                "addressee": a.addressee,
                "phone": a.phone,
                "email": a.email,
                "issued_at": _iso(a.issued_at),
            }
            for a in slips
        ],
        "sms_received": [
            {"sender": m.sender, "body": m.body, "received_at": _iso(m.received_at)} for m in inbound
        ],
        "zalo_followers": [
            {
                "user_id": f.user_id,
                "following": f.following,
                "phone": f.phone,
                "phone_shared_at": _iso(f.phone_consent_at),
                "last_message_at": _iso(f.last_interaction_at),
            }
            for f in followers
        ],
        "zalo_received": [item for item in map(_zalo_sent, sent) if item is not None],
        # The language each of the subject's chats chose for the chatbot (/english, /tiengviet).
        "chat_languages": [
            {"chat_id": p.chat_id, "language": p.language, "chosen_at": _iso(p.updated_at)}
            for p in session.scalars(
                select(ChatPreference)
                .where(_in(ChatPreference.chat_id, s.chat_ids))
                .order_by(ChatPreference.chat_id)
            )
        ],
    }


def _zalo_users(s: Subject) -> frozenset[str]:
    return frozenset(chat_id_of(c) for c in s.chat_ids if platform_of(c) == ZALO_OA)


def _zalo_sent(e: ZaloInboxEvent) -> dict[str, Any] | None:
    """One event the subject sent the OA: its message (text, attachments) or the info form; None when
    nothing of it is left (emptied by retention or an erasure)."""
    try:
        body = json.loads(e.body)
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    held = {k: body[k] for k in ("message", "info") if body.get(k)}
    if not held:
        return None
    return {"event": e.event_name, "received_at": _iso(e.occurred_at or e.received_at), **held}


def _correct(session: Session, s: Subject, changes: Mapping[str, str]) -> dict[str, Any]:
    if not changes:
        raise InvalidInput(
            "set", "", f"a correction names a field: {', '.join(CORRECTABLE)}", refusal="no_change"
        )
    values: dict[str, str | None] = {}
    for name, raw in changes.items():
        if name not in CORRECTABLE:
            raise InvalidInput("set", name, f"expected one of {', '.join(CORRECTABLE)}", refusal="bad_field")
        value = unicodedata.normalize("NFC", raw).strip()
        if name == "SoDienThoai":
            values["phone"] = _phone(value)
        elif name == "Email":
            try:
                values["email"] = email_value(value) if value else None
            except ValueError as exc:
                raise InvalidInput("Email", value, str(exc), refusal="bad_email") from exc
        else:
            if not value:
                raise InvalidInput(name, value, "must not be blank", refusal="blank")
            values[CORRECTABLE[name]] = value
    if not s.dossier_ids:
        raise WrongState("subject", "", "no dossier of this subject to correct", refusal="no_dossier")
    # The portal stays the source: its next payload for these dossiers wins, so it must be corrected too.
    changed = _bulk(session, update(Dossier).where(_in(Dossier.id, s.dossier_ids)).values(**values))
    return {"dossiers": changed, "fields": sorted(changes)}


def _bulk(session: Session, statement: Update | Delete) -> int:
    """Run a bulk UPDATE or DELETE and count the rows it changed. The session is not synchronised: a
    request's work does not read those rows back through it."""
    return affected(session.execute(statement.execution_options(synchronize_session=False)))


def _erase(session: Session, s: Subject, now: datetime) -> dict[str, Any]:
    """Erase what identifies the subject; keep every row the reports count."""
    counts: dict[str, int] = {}
    own = _in(Notification.dossier_id, s.dossier_ids) | _in(Notification.recipient, s.phones | s.chat_ids)
    ids = select(Notification.id).where(own).scalar_subquery()
    # Messages not sent yet would go to an address that must no longer be used.
    cancelled = session.scalars(
        update(Notification)
        .where(
            own,
            Notification.status.not_in(FINAL_STATUSES),
            Notification.status != NotificationStatus.SENDING,
        )
        .values(status=str(NotificationStatus.CANCELLED), error=ERASED, updated_at=now)
        .returning(Notification.id)
        .execution_options(synchronize_session=False)
    ).all()
    counts["cancelled"] = len(cancelled)
    queue_changes(session, cancelled)  # the one-stop system hears "cancelled" (outbox.callbacks)
    # An error may name the address ("+84… opted out of sms", a provider quoting the number).
    erased_error = case((DeliveryAttempt.error.is_(None), None), else_=ERASED)
    _bulk(
        session,
        update(DeliveryAttempt)
        .where(DeliveryAttempt.notification_id.in_(ids))
        .values(recipient=None, error=erased_error),
    )
    counts["messages"] = _bulk(
        session,
        update(Notification)
        .where(own)
        .values(
            body=None,
            subject=None,
            recipient=None,
            payload=None,
            error=case((Notification.error.is_(None), None), else_=ERASED),
        ),
    )
    counts["dossiers"] = _bulk(
        session,
        update(Dossier)
        .where(_in(Dossier.id, s.dossier_ids))
        .values(applicant_name=ERASED_NAME, phone=None, email=None, payment_link=None, updated_at=now),
    )
    # The document itself stays with the agency's records; notifier's copy keeps number, dates, reason.
    counts["apology_documents"] = _bulk(
        session,
        update(ApologySlip)
        .where(_in(ApologySlip.dossier_id, s.dossier_ids))
        .values(addressee=ERASED_NAME, phone=None, email=None),
    )
    counts["sms_received"] = _bulk(
        session,
        update(InboundMessage)
        .where(_in(InboundMessage.sender, s.phones))
        .values(sender="", body=ERASED, reply=None),
    )
    counts["feedback"] = _bulk(
        session,
        update(Feedback)
        .where(_in(Feedback.chat_id, s.chat_ids))
        .values(text=ERASED, answer=None, chat_id="", user_id=None),
    )
    counts["chat_links"] = _bulk(
        session,
        delete(ChatLink).where(
            _in(ChatLink.chat_id, s.chat_ids)
            | _in(ChatLink.phone, s.phones)
            | _in(ChatLink.dossier_id, s.dossier_ids)
        ),
    )
    counts["chat_languages"] = _bulk(
        session, delete(ChatPreference).where(_in(ChatPreference.chat_id, s.chat_ids))
    )
    # A form left half-way may hold what the citizen was writing (a feedback's dossier).
    counts["chat_states"] = affected(
        session.execute(
            delete(ChatFormState)
            .where(_in(ChatFormState.chat_id, s.chat_ids))
            .execution_options(synchronize_session=False)
        )
    )
    # Zalo: the follower (with the phone they shared, by which routing finds them) and the webhook events
    # as Zalo sent them (their messages, the name and phone of a shared-info form). One not applied yet stays.
    zalo_users = _zalo_users(s)
    counts["zalo_followers"] = _bulk(
        session,
        delete(ZaloFollower).where(_in(ZaloFollower.phone, s.phones) | _in(ZaloFollower.user_id, zalo_users)),
    )
    counts["zalo_events"] = _bulk(
        session,
        update(ZaloInboxEvent)
        .where(_in(ZaloInboxEvent.user_id, zalo_users), ZaloInboxEvent.processed_at.is_not(None))
        .values(body="{}", user_id=None),
    )
    addresses = s.phones | s.chat_ids | s.emails
    counts["contacts"] = _bulk(session, delete(Contact).where(_in(Contact.address, addresses)))
    counts["consents"] = _bulk(session, delete(ConsentRecord).where(_in(ConsentRecord.address, addresses)))
    _bulk(session, delete(LookupFailure).where(_in(LookupFailure.chat_id, s.chat_ids)))
    # Earlier requests of the same subject keep their kind and dates, not the number or the chat.
    for phone in s.phones:
        _bulk(
            session,
            update(PrivacyRequest).where(PrivacyRequest.phone == phone).values(phone=mask_phone(phone)),
        )
    _bulk(session, update(PrivacyRequest).where(_in(PrivacyRequest.chat_id, s.chat_ids)).values(chat_id=None))
    return counts


def _withdraw(session: Session, s: Subject, now: datetime) -> dict[str, Any]:
    pairs = (
        [(p, "sms") for p in s.phones]
        + [(p, "zalo") for p in s.phones]
        + [(e, "email") for e in s.emails]
        # A conversation's opt-out medium is its platform's ("zalo_oa:…" -> zalo_oa), as /huy records it.
        + [(c, platform_of(c)) for c in s.chat_ids]
    )
    for address, medium in sorted(pairs):
        record_opt_out(session, address, medium, now, reason="privacy: consent withdrawn", source="privacy")
    stopped = _bulk(
        session,
        update(ChatLink)
        .where(_in(ChatLink.chat_id, s.chat_ids) | _in(ChatLink.phone, s.phones))
        .values(active=False, updated_at=now),
    )
    return {"opted_out": len(pairs), "chat_links": stopped}


def carry_out(
    session: Session,
    request_id: int,
    *,
    done_by: str,
    now: datetime,
    changes: Mapping[str, str] | None = None,
) -> tuple[PrivacyRequest, dict[str, Any]]:
    """Do what an open request asks, mark it done, audit it; the result (for access: the data)."""
    req = _open_request(session, request_id)
    subject = subject_of(session, req)
    kind = RequestKind(req.kind)
    if subject.empty and kind is not RequestKind.WITHDRAW:
        raise WrongState("id", request_id, "no data of this subject is held", refusal="no_data")
    if kind is RequestKind.ACCESS:
        result = _access(session, subject)
        summary: dict[str, Any] = {"dossiers": len(result["dossiers"]), "consents": len(result["consents"])}
    elif kind is RequestKind.CORRECT:
        result = summary = _correct(session, subject, changes or {})
    elif kind is RequestKind.ERASE:
        result = summary = _erase(session, subject, now)
    else:
        result = summary = _withdraw(session, subject, now)
    # session.get cached the row before the bulk updates above (erasure masks its phone): read it again.
    session.refresh(req)
    req.status, req.done_at, req.done_by = str(RequestStatus.DONE), now, done_by
    req.outcome = json.dumps(summary, ensure_ascii=False, sort_keys=True)
    audit.record(session, now, done_by, f"privacy.{kind}", f"privacy_request:{req.id}", **summary)
    session.flush()
    return req, result


def refuse(session: Session, request_id: int, *, reason: str, done_by: str, now: datetime) -> PrivacyRequest:
    text = reason.strip()
    if not text:
        raise InvalidInput("reason", reason, "a refusal says why", refusal="blank")
    req = _open_request(session, request_id)
    req.status, req.done_at, req.done_by, req.outcome = str(RequestStatus.REFUSED), now, done_by, text
    audit.record(session, now, done_by, "privacy.refuse", f"privacy_request:{req.id}", reason=text)
    session.flush()
    return req


def requests(session: Session, status: str | None = None) -> list[PrivacyRequest]:
    stmt = select(PrivacyRequest).order_by(PrivacyRequest.deadline_at, PrivacyRequest.id)
    if status is not None:
        stmt = stmt.where(PrivacyRequest.status == str(_enum(RequestStatus, "status", status)))
    return list(session.scalars(stmt))


def as_dict(req: PrivacyRequest, now: datetime) -> dict[str, Any]:
    """For lists: the phone masked (whoever reads the list is not the subject)."""
    return {
        "id": req.id,
        "kind": req.kind,
        "channel": req.channel,
        "status": req.status,
        "phone": mask_phone(req.phone) if req.phone else None,
        "MaHoSo": req.dossier_code,
        "requested_by": req.requested_by,
        "detail": req.detail,
        "created_at": _iso(req.created_at),
        "deadline_at": _iso(req.deadline_at),
        "overdue": req.status == RequestStatus.OPEN and req.deadline_at < now,
        "done_at": _iso(req.done_at),
        "done_by": req.done_by,
        "outcome": req.outcome,
    }


# ------------------------------------------------------------------------------------- processing record


@dataclass(frozen=True)
class ProcessingLine:
    data: str
    purpose: str
    retention: str
    basis: str


@dataclass(frozen=True)
class ProcessingRecord:
    law: str
    decree: str
    controller: str
    answer_working_days: int
    lines: list[ProcessingLine]
    held: dict[str, int]  # how much of it notifier holds now


def processing_record(session: Session, settings: Settings) -> ProcessingRecord:
    p = settings.privacy
    lines = [
        ProcessingLine(
            e.data, e.purpose, e.retention.replace("{retention_days}", str(settings.retention.days)), e.basis
        )
        for e in p.processing
    ]
    count = lambda stmt: int(session.scalar(stmt) or 0)  # noqa: E731
    held = {
        "dossiers_with_phone_or_email": count(
            select(func.count())
            .select_from(Dossier)
            .where(Dossier.phone.is_not(None) | Dossier.email.is_not(None))
        ),
        "messages_with_text": count(
            select(func.count()).select_from(Notification).where(Notification.body.is_not(None))
        ),
        "chat_links": count(select(func.count()).select_from(ChatLink)),
        "consents_in_force": count(
            select(func.count()).select_from(ConsentRecord).where(ConsentRecord.withdrawn_at.is_(None))
        ),
        "feedback": count(select(func.count()).select_from(Feedback)),
        "open_requests": count(
            select(func.count())
            .select_from(PrivacyRequest)
            .where(PrivacyRequest.status == RequestStatus.OPEN)
        ),
    }
    return ProcessingRecord(p.law, p.decree, p.controller, p.answer_working_days, lines, held)


# ------------------------------------------------------------------------------------------------ service


class PrivacyWorkflow:
    """Each call one transaction, time from the service's clock, the deadline from its calendar."""

    def __init__(
        self, factory: sessionmaker[Session], settings: Settings, calendar: WorkCalendar, clock: Clock
    ) -> None:
        self.factory, self.settings, self.calendar, self.clock = factory, settings, calendar, clock

    @classmethod
    def of(cls, service: Service) -> PrivacyWorkflow:
        return cls(service.factory, service.settings, service.calendar, service.clock)

    def deadline(self, now: datetime) -> datetime:
        days = self.settings.privacy.answer_working_days
        return answer_deadline(self.calendar, now, days, self.settings.working_hours.end)

    def request(self, **fields: Any) -> dict[str, Any]:
        now = self.clock.now()
        with self.factory() as session, session.begin():
            req = submit(session, now=now, deadline_at=self.deadline(now), **fields)
            return as_dict(req, now)

    def list(self, status: str | None = None) -> list[dict[str, Any]]:
        now = self.clock.now()
        with self.factory() as session:
            return [as_dict(r, now) for r in requests(session, status)]

    def done(
        self, request_id: int, done_by: str, changes: Mapping[str, str] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        now = self.clock.now()
        with self.factory() as session, session.begin():
            req, result = carry_out(session, request_id, done_by=done_by, now=now, changes=changes)
            return as_dict(req, now), result

    def refuse(self, request_id: int, done_by: str, reason: str) -> dict[str, Any]:
        now = self.clock.now()
        with self.factory() as session, session.begin():
            return as_dict(refuse(session, request_id, reason=reason, done_by=done_by, now=now), now)

    def report(self) -> ProcessingRecord:
        with self.factory() as session:
            return processing_record(session, self.settings)
