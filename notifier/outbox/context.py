"""What a template sees when a notification is rendered, and whom it reaches (see rules.rendering.SCHEMA)."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy.orm import Session, object_session

from notifier.channels.base import Recipient
from notifier.outbox.digests import digest_items
from notifier.outbox.views import agency_ns, dossier_ns, step_ns
from notifier.rules.kinds import Audience, Kind, kind_info
from notifier.rules.payloads import (
    Addressee,
    DigestPayload,
    FeedbackPayload,
    Payload,
    SpendPayload,
    StepPayload,
    TestPayload,
    TestTarget,
    TestText,
    parse_payload,
    test_target,
)
from notifier.rules.rendering import sample_context
from notifier.rules.spend import OnCap, SpendLevel, month_label
from notifier.rules.workdays import WorkCalendar
from notifier.store.models import Notification
from notifier.store.planning import NotificationLike, OfficerLike
from notifier.store.queries import slip_number_and_date


def template_agency_id(n: NotificationLike) -> int | None:
    """Whose template renders `n`: the dossier's agency, the officer's, or the one a test names."""
    test = test_target(n.kind, n.payload)
    if test is not None:
        return test.agency_id
    return n.dossier.agency_id if n.dossier else (n.officer.agency_id if n.officer else None)


def test_text(n: NotificationLike, channel_type: str) -> TestText | None:
    """The unsaved text a test send carries for `channel_type`, or None (then the saved template is used)."""
    payload = parse_payload(n.kind, n.payload) if n.is_test else None
    if isinstance(payload, TestPayload) and payload.text is not None:
        return payload.text if payload.text.channel_type == channel_type else None
    return None


def build_context(
    n: NotificationLike, calendar: WorkCalendar, now: datetime, session: Session | None = None
) -> dict[str, Any]:
    """`session`: where digests, steps and slip numbers are read; by default the ORM row's own (a plain row
    from store.planning has none)."""
    if session is None and isinstance(n, Notification):
        session = object_session(n)
    if n.dossier is None and test_target(n.kind, n.payload) is not None:
        # A test message is about no real dossier (it must not count in any dossier's history).
        return sample_context(now, n.kind)
    d = n.dossier
    officer = n.officer
    dossier = dossier_ns(d, calendar, now, n.ref_at, n.kind) if d is not None else None
    agency = agency_ns(d.agency) if d is not None else (agency_ns(officer.agency) if officer else None)
    payload = parse_payload(n.kind, n.payload)
    # Feedback kinds carry the feedback (and, when it is about no dossier, its agency) in the payload.
    feedback = payload if isinstance(payload, FeedbackPayload) else None
    if agency is None and feedback is not None and feedback.agency is not None:
        agency = SimpleNamespace(**feedback.agency.model_dump())
    # A spend warning to an admin names its agency in the payload (it reaches no officer of it).
    spend = payload if isinstance(payload, SpendPayload) else None
    if agency is None and spend is not None:
        agency = SimpleNamespace(**spend.agency.model_dump())
    # Whom the message greets: the officer, the applicant, or the admin a spend warning reaches.
    addressee = spend.to.name if spend is not None and spend.to is not None else ""
    name = officer.name if officer else (d.applicant_name if d else addressee)
    return {
        "dossier": dossier,
        "agency": agency,
        "feedback": SimpleNamespace(**feedback.feedback.model_dump()) if feedback else None,
        "officer": _officer_ns(officer),
        "recipient": SimpleNamespace(
            code=officer.code if officer else None,
            name=name,
            title=officer.title if officer else None,
        ),
        # Not the addressee: an escalation reaches the head but must name who holds the dossier.
        "assigned_officer": _officer_ns(d.officer) if d is not None else None,
        "recipient_name": name,
        "working_days_left": dossier.working_days_left if dossier else None,
        "working_days_overdue": dossier.working_days_overdue if dossier else None,
        "now": now,
        "items": [],
        "step": None,
        "spend": _spend_ns(spend),
        **_read_at_render(session, n, payload, dossier, calendar, now),
    }


def _spend_ns(spend: SpendPayload | None) -> SimpleNamespace | None:
    if spend is None:
        return None
    return SimpleNamespace(
        channel=spend.channel,
        month=month_label(spend.month),
        percent=spend.spent_vnd * 100 // spend.budget_vnd if spend.budget_vnd else 0,
        spent_vnd=spend.spent_vnd,
        budget_vnd=spend.budget_vnd,
        warn_percent=spend.warn_percent,
        capped=spend.level == SpendLevel.CAP,
        fallback=spend.on_cap == OnCap.FALLBACK,
    )


def _officer_ns(o: OfficerLike | None) -> SimpleNamespace | None:
    return SimpleNamespace(code=o.code, name=o.name, title=o.title) if o is not None else None


def _read_at_render(
    session: Session | None,
    n: NotificationLike,
    payload: Payload | None,
    dossier: SimpleNamespace | None,
    calendar: WorkCalendar,
    now: datetime,
) -> dict[str, Any]:
    """Digest items, the overdue step, the apology slip's number and date: read at render time."""
    if session is None:
        return {}
    info = kind_info(n.kind)
    if info.digest:
        until = payload.until if isinstance(payload, DigestPayload) else now
        return {"items": digest_items(session, n.kind, n.officer, until, calendar, now)}
    if info.kind is Kind.STEP_OVERDUE:
        step = payload if isinstance(payload, StepPayload) else None
        return {"step": step_ns(session, step, calendar, now)}
    if info.about_missed_appointment and dossier is not None and n.dossier_id:
        slip = slip_number_and_date(session, n.dossier_id, n.ref_at)
        if slip is not None:
            dossier.apology_number, dossier.apology_issued_at = slip
    return {}


# The addresses an officer, an admin warned of spend (Addressee) and a test's sender (TestTarget) all carry.
_ADDRESSES = ("phone", "email", "telegram_chat_id")


def _reached(
    label: str, name: str, who: OfficerLike | Addressee | TestTarget, zalo_user_id: str | None = None
) -> Recipient:
    addresses = {a: getattr(who, a) for a in _ADDRESSES}
    return Recipient(label=label, name=name, zalo_user_id=zalo_user_id, **addresses)


def recipient_for(
    n: NotificationLike, telegram_chat_id: str | None = None, zalo_user_id: str | None = None
) -> Recipient:
    """`telegram_chat_id`, `zalo_user_id`: the citizen's linked chat and Zalo OA follower (outbox.links),
    found for the whole batch."""
    test = test_target(n.kind, n.payload)
    if test is not None:
        return _reached(f"test:{test.by}", test.by, test)
    if Audience(n.audience).is_staff and n.officer is not None:
        o = n.officer
        return _reached(o.code, o.name, o, zalo_user_id=o.zalo_user_id)
    if n.kind == Kind.SPEND_WARNING and n.officer is None:
        # A spend warning to an admin: the address was copied from the account when it was queued.
        try:
            payload = parse_payload(n.kind, n.payload)
        except ValueError:
            payload = None
        to = payload.to if isinstance(payload, SpendPayload) else None
        if to is not None:
            return _reached(f"admin:{to.name}", to.name, to)
    d = n.dossier
    if d is None:
        return Recipient(
            label=str(Audience.CITIZEN), telegram_chat_id=telegram_chat_id, zalo_user_id=zalo_user_id
        )
    return Recipient(
        label=str(Audience.CITIZEN),
        name=d.applicant_name,
        phone=d.phone,
        email=d.email,
        telegram_chat_id=telegram_chat_id,
        zalo_user_id=zalo_user_id,
    )
