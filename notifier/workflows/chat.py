"""The bot's database work, synchronous (handlers run it in a thread): each method is one transaction and
takes `now` from the caller's clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, case, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload, sessionmaker
from sqlalchemy.sql.base import ExecutableOption

from notifier.config import BotSettings, Settings
from notifier.outbox.links import TELEGRAM
from notifier.outbox.views import agency_ns, dossier_view
from notifier.rules.chat_keys import platform_of
from notifier.rules.lookup import (
    CitizenView,
    Query,
    Throttle,
    code_key,
    describe,
    digits_match,
    link_needs_consent,
    slowed_until,
)
from notifier.rules.phones import mask_phone
from notifier.rules.workdays import WorkCalendar
from notifier.store import audit
from notifier.store.contacts import opted_out_addresses, record_opt_in, record_opt_out
from notifier.store.limits import LOOKUP_LOCK_SPACE, take_turns
from notifier.store.models import (
    ChatLink,
    ChatPreference,
    Dossier,
    LookupFailure,
    Notification,
    PrivacyRequest,
)
from notifier.workflows.feedback import (
    DEFAULT_FEEDBACK_LIMITS,
    FeedbackLimits,
    Submitted,
    answer_deadline,
    submit,
)
from notifier.workflows.privacy import submit as submit_privacy

PENDING = "pending"  # chat_links.source of a link waiting for a linked chat's consent
MAX_LISTED = 20  # dossiers shown by /hoso; Telegram's message and keyboard limits come first


@dataclass(frozen=True)
class Found:
    dossier_id: int
    view: CitizenView
    agency: SimpleNamespace
    linked: bool


@dataclass(frozen=True)
class LookupResult:
    outcome: str  # found, not_found, need_digits, slowed
    found: Found | None = None
    retry_at: datetime | None = None


@dataclass(frozen=True)
class Subscribed:
    """A subscribe button pressed: linked at once, or `pending` until a chat in `ask` agrees."""

    code: str
    pending: bool = False
    link_id: int | None = None
    ask: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Confirmed:
    """A linked chat agreed to a pending link: `chat_id` now receives `code`'s notices too."""

    code: str
    chat_id: str


# Failed lookups by code from every chat; a day, so a slow spread-out guess is still counted.
DEFAULT_CODE_THROTTLE = Throttle(limit=10, window=timedelta(days=1), slowdown=timedelta(hours=1))


@dataclass(frozen=True)
class LinkResult:
    phone_masked: str
    dossiers: list[CitizenView] = field(default_factory=list)
    displaced: list[str] = field(default_factory=list)  # chats that received this phone's notices until now


def throttle_from(settings: BotSettings) -> Throttle:
    """The enumeration guard's rule from `[bot]` (the counts live in bot_lookup_failures)."""
    return Throttle(
        limit=settings.failed_lookup_limit,
        window=timedelta(seconds=settings.failed_lookup_window_seconds),
        slowdown=timedelta(seconds=settings.slowdown_seconds),
    )


def code_throttle_from(settings: BotSettings) -> Throttle:
    """Failed lookups of one dossier code from every chat (notifier.rules.lookup.slowed_until)."""
    return Throttle(
        limit=settings.code_failed_lookup_limit,
        window=timedelta(seconds=settings.code_failed_lookup_window_seconds),
        slowdown=timedelta(seconds=settings.code_slowdown_seconds),
    )


def feedback_limits_from(settings: BotSettings) -> FeedbackLimits:
    return FeedbackLimits(
        per_chat=settings.feedback_per_chat,
        per_dossier=settings.feedback_per_dossier,
        window=timedelta(seconds=settings.feedback_window_seconds),
    )


def _actor(chat_key: str) -> str:
    """The audit actor of a conversation: "telegram:5001", "zalo_oa:3456…"."""
    return chat_key if platform_of(chat_key) != TELEGRAM else f"{TELEGRAM}:{chat_key}"


def same_platform(chat_key: str) -> ColumnElement[bool]:
    """Chat links whose conversation is on the platform of `chat_key` (bare ids: Telegram)."""
    platform = platform_of(chat_key)
    if platform == TELEGRAM:
        return ~ChatLink.chat_id.contains(":")
    return ChatLink.chat_id.startswith(f"{platform}:", autoescape=True)  # "_" is a LIKE wildcard


def _with_relations() -> list[ExecutableOption]:
    return [joinedload(Dossier.agency), joinedload(Dossier.procedure)]


def _sent(kind: str) -> Any:
    return (
        select(func.max(Notification.sent_at))
        .where(Notification.dossier_id == Dossier.id, Notification.kind == kind)
        .correlate(Dossier)
        .scalar_subquery()
    )


# The look-up's statements, built once: building them per call was most of a look-up's CPU (SQLAlchemy
# coercions and cache keys), more than running them (benchmarks/chat_lookup.py).
_LINKED = (
    select(ChatLink.id)
    .where(
        ChatLink.chat_id == bindparam("chat_id"),
        ChatLink.active,
        or_(
            ChatLink.dossier_id == Dossier.id,
            and_(Dossier.phone.is_not(None), ChatLink.phone == Dossier.phone),
        ),
    )
    .correlate(Dossier)
    .exists()
)
FIND = (
    select(Dossier, _sent("overdue_apology"), _sent("new_appointment"), _LINKED)
    .options(joinedload(Dossier.agency), joinedload(Dossier.procedure))
    .where(Dossier.code == bindparam("code"))
)
# Both throttles' counts in one statement: this chat's recent misses, and this code's from every chat.
_BY_CHAT = and_(LookupFailure.chat_id == bindparam("chat_id"), LookupFailure.at > bindparam("chat_since"))
_BY_CODE = and_(LookupFailure.code == bindparam("code"), LookupFailure.at > bindparam("code_since"))
FAILURES = select(
    func.count(case((_BY_CHAT, 1))),
    func.max(case((_BY_CHAT, LookupFailure.at))),
    func.count(case((_BY_CODE, 1))),
    func.max(case((_BY_CODE, LookupFailure.at))),
).where(or_(_BY_CHAT, _BY_CODE))


class BotStore:
    def __init__(
        self,
        factory: sessionmaker[Session],
        calendar: WorkCalendar,
        throttle: Throttle,
        code_throttle: Throttle = DEFAULT_CODE_THROTTLE,
        feedback_limits: FeedbackLimits = DEFAULT_FEEDBACK_LIMITS,
        consent_purpose: str | None = None,
    ) -> None:
        self.factory = factory
        self.calendar = calendar
        self.throttle = throttle
        self.code_throttle = code_throttle
        self.feedback_limits = feedback_limits
        self.consent_purpose = consent_purpose  # [privacy] consent_purpose, kept with each consent

    @classmethod
    def from_settings(
        cls, factory: sessionmaker[Session], calendar: WorkCalendar, settings: Settings
    ) -> BotStore:
        """The store with `[bot]`'s limits and `[privacy]`'s consent purpose (chat and public page)."""
        return cls(
            factory,
            calendar,
            throttle_from(settings.bot),
            code_throttle_from(settings.bot),
            feedback_limits_from(settings.bot),
            consent_purpose=settings.privacy.consent_purpose,
        )

    # -- reading ----------------------------------------------------------------------------------------
    def _view(
        self, d: Dossier, apology_at: datetime | None, new_at: datetime | None, now: datetime
    ) -> CitizenView:
        """`apology_at`, `new_at`: when the dossier's overdue_apology and new_appointment went out."""
        return describe(dossier_view(d, self.calendar, now), apology_at, new_at)

    def _find(self, session: Session, code: str, chat_id: str, now: datetime) -> tuple[Dossier, Found] | None:
        """The dossier and its view, with whether the chat is linked to it: one statement."""
        row = session.execute(FIND, {"code": code, "chat_id": chat_id}).first()
        if row is None and code != code.upper():
            # Codes are printed in capitals (…H26…); phones often type them in lower case.
            row = session.execute(FIND, {"code": code.upper(), "chat_id": chat_id}).first()
        if row is None:
            return None
        d, apology_at, new_at, is_linked = row
        return d, Found(d.id, self._view(d, apology_at, new_at, now), agency_ns(d.agency), bool(is_linked))

    def _views(self, session: Session, dossiers: list[Dossier], now: datetime) -> list[CitizenView]:
        if not dossiers:
            return []
        sent = session.execute(
            select(Notification.dossier_id, Notification.kind, func.max(Notification.sent_at))
            .where(
                Notification.dossier_id.in_([d.id for d in dossiers]),
                Notification.kind.in_(("overdue_apology", "new_appointment")),
                Notification.sent_at.is_not(None),
            )
            .group_by(Notification.dossier_id, Notification.kind)
        ).all()
        apologies = {(dossier_id, kind): at for dossier_id, kind, at in sent}
        return [
            self._view(
                d, apologies.get((d.id, "overdue_apology")), apologies.get((d.id, "new_appointment")), now
            )
            for d in dossiers
        ]

    def _links(self, chat_id: str) -> ColumnElement[bool]:
        return (ChatLink.chat_id == chat_id) & ChatLink.active

    def _is_linked(self, session: Session, chat_id: str, d: Dossier) -> bool:
        match = ChatLink.dossier_id == d.id
        if d.phone:
            match = or_(match, ChatLink.phone == d.phone)
        return session.scalar(select(ChatLink.id).where(self._links(chat_id), match).limit(1)) is not None

    def _linked(self, session: Session, chat_id: str) -> list[Dossier]:
        links = session.execute(select(ChatLink.phone, ChatLink.dossier_id).where(self._links(chat_id))).all()
        phones = {p for p, _ in links if p}
        ids = {i for _, i in links if i is not None}
        if not phones and not ids:
            return []
        return list(
            session.scalars(
                select(Dossier)
                .where(or_(Dossier.phone.in_(phones or {""}), Dossier.id.in_(ids or {-1})))
                .options(*_with_relations())
                .order_by(Dossier.received_at.desc().nulls_last(), Dossier.id.desc())
                .limit(MAX_LISTED)
            )
        )

    # -- lookups ----------------------------------------------------------------------------------------
    def lookup(
        self,
        chat_id: str,
        query: Query,
        now: datetime,
        *,
        phone: str | None = None,
        serialize: bool = False,
    ) -> LookupResult:
        """Reveal a dossier only to a linked chat or for the right phone digits; count the misses.

        `phone`: a number the platform vouches for as the sender's (an SMS's sender): its own dossiers
        count as linked. `serialize`: look-ups of the same chat or code wait for each other, for callers
        whose events are not handled one at a time (a web page gets parallel requests from one client).
        """
        with self.factory() as session, session.begin():
            if serialize:
                take_turns(session, LOOKUP_LOCK_SPACE, [chat_id, code_key(query.code)])
            hit = self._find(session, query.code, chat_id, now)
            if hit is not None and (hit[1].linked or (phone is not None and hit[0].phone == phone)):
                return LookupResult("found", hit[1])
            # Counted under the stored code when it exists, so every spelling of it adds up.
            key = code_key(hit[0].code if hit is not None else query.code)

            params = {
                "chat_id": chat_id,
                "chat_since": now - self.throttle.window,
                "code": key,
                "code_since": now - self.code_throttle.window,
            }
            by_chat, chat_latest, by_code, code_latest = session.execute(FAILURES, params).one()
            retry_at = slowed_until(
                self.throttle,
                (int(by_chat or 0), chat_latest),
                self.code_throttle,
                (int(by_code or 0), code_latest),
                now,
            )
            if retry_at is not None:
                return LookupResult("slowed", retry_at=retry_at)
            if query.digits is None:
                # Same answer whether the code exists or not: asking for the digits reveals nothing.
                return LookupResult("need_digits")
            if hit is not None and digits_match(hit[0].phone, query.digits):
                return LookupResult("found", hit[1])
            session.add(LookupFailure(chat_id=chat_id, at=now, code=key))
            # Old misses no longer count under either rule; drop them so the table stays one window big.
            keep = max(self.throttle.window, self.code_throttle.window)
            session.execute(delete(LookupFailure).where(LookupFailure.at <= now - keep))
            return LookupResult("not_found")

    def _found(self, session: Session, d: Dossier, now: datetime, *, linked: bool) -> Found:
        [view] = self._views(session, [d], now)
        return Found(d.id, view, agency_ns(d.agency), linked)

    def linked_dossier(self, chat_id: str, dossier_id: int, now: datetime) -> Found | None:
        """A dossier by id, only if this chat is linked to it (inline buttons carry ids)."""
        with self.factory() as session:
            d = session.scalar(select(Dossier).where(Dossier.id == dossier_id).options(*_with_relations()))
            if d is None or not self._is_linked(session, chat_id, d):
                return None
            return self._found(session, d, now, linked=True)

    def my_dossiers(
        self, chat_id: str, now: datetime, *, medium: str = TELEGRAM, address: str | None = None
    ) -> tuple[list[tuple[int, CitizenView]], bool]:
        """The chat's linked dossiers (newest first) and whether it said /huy (opt-out of `medium`)."""
        with self.factory() as session:
            dossiers = self._linked(session, chat_id)
            views = self._views(session, dossiers, now)
            stopped = bool(opted_out_addresses(session, [(address or chat_id, medium)]))
        return [(d.id, v) for d, v in zip(dossiers, views, strict=True)], stopped

    # -- linking ----------------------------------------------------------------------------------------
    def link_phone(
        self, chat_id: str, user_id: str, phone: str, now: datetime, *, medium: str = TELEGRAM
    ) -> LinkResult:
        """Link every dossier of `phone` (E.164, verified by the platform as the user's own) to the chat."""
        with self.factory() as session, session.begin():
            # A platform gives a number to one account at a time: other chats of the same platform holding
            # it lost it, and are told (`displaced`), so a move is never silent. The citizen's chats on other
            # platforms keep it (Telegram and Zalo side by side).
            displaced = sorted(
                set(
                    session.scalars(
                        select(ChatLink.chat_id).where(
                            ChatLink.phone == phone,
                            ChatLink.chat_id != chat_id,
                            ChatLink.active,
                            same_platform(chat_id),
                        )
                    )
                )
            )
            session.execute(
                update(ChatLink)
                .where(
                    ChatLink.phone == phone,
                    ChatLink.chat_id != chat_id,
                    ChatLink.active,
                    same_platform(chat_id),
                )
                .values(active=False, updated_at=now)
            )
            link = session.scalar(
                select(ChatLink).where(ChatLink.chat_id == chat_id, ChatLink.phone == phone)
            )
            if link is None:
                link = ChatLink(chat_id=chat_id, phone=phone, source="contact", created_at=now)
                session.add(link)
            link.user_id, link.active, link.consent_at, link.updated_at = user_id, True, now, now
            # Sharing the contact is the consent to be reached here, so it also lifts an earlier /huy.
            record_opt_in(
                session, chat_id, medium, now, reason="shared contact", source="bot",
                purpose=self.consent_purpose,
            )  # fmt: skip
            audit.record(session, now, _actor(chat_id), "bot.link_phone", mask_phone(phone))
            session.flush()
            dossiers = self._linked(session, chat_id)
            dossiers = [d for d in dossiers if d.phone == phone]
            return LinkResult(mask_phone(phone), self._views(session, dossiers, now), displaced)

    def _chats_of(self, session: Session, d: Dossier) -> list[str]:
        """The chats actively linked to the dossier, by the dossier itself or by its phone."""
        match = ChatLink.dossier_id == d.id
        if d.phone:
            match = or_(match, ChatLink.phone == d.phone)
        return sorted(set(session.scalars(select(ChatLink.chat_id).where(ChatLink.active, match))))

    def subscribe(
        self, chat_id: str, user_id: str, dossier_id: int, now: datetime, *, medium: str = TELEGRAM
    ) -> Subscribed | None:
        """Link one dossier to the chat (after a lookup that proved the digits); None if it is gone.

        When other chats already receive the dossier, the link waits (`pending`) until one of them agrees
        (`confirm_link`): proving four digits must not take a citizen's notices away from their chat.
        """
        with self.factory() as session, session.begin():
            d = session.get(Dossier, dossier_id)
            if d is None:
                return None
            link = session.scalar(
                select(ChatLink).where(ChatLink.chat_id == chat_id, ChatLink.dossier_id == dossier_id)
            )
            if link is not None and link.active:
                return Subscribed(d.code)
            others = self._chats_of(session, d)
            if link is None:
                link = ChatLink(chat_id=chat_id, dossier_id=dossier_id, source="lookup", created_at=now)
                session.add(link)
            link.user_id, link.consent_at, link.updated_at = user_id, now, now
            if link_needs_consent(others, chat_id):
                link.active, link.source = False, PENDING
                session.flush()
                audit.record(session, now, _actor(chat_id), "bot.subscribe_pending", d.code)
                return Subscribed(
                    d.code, pending=True, link_id=link.id, ask=[c for c in others if c != chat_id]
                )
            link.active, link.source = True, "lookup"
            record_opt_in(
                session,
                chat_id,
                medium,
                now,
                reason=f"subscribed to {d.code}",
                source="bot",
                purpose=self.consent_purpose,
            )
            audit.record(session, now, _actor(chat_id), "bot.subscribe", d.code)
            return Subscribed(d.code)

    def confirm_link(self, chat_id: str, link_id: int, now: datetime) -> Confirmed | None:
        """A chat linked to the pending link's dossier agrees to it; None if the link is gone or already
        decided, or this chat is not one that may agree."""
        with self.factory() as session, session.begin():
            link = session.get(ChatLink, link_id)
            if link is None or link.active or link.source != PENDING or link.dossier_id is None:
                return None
            d = session.get(Dossier, link.dossier_id)
            if d is None or chat_id not in self._chats_of(session, d):
                return None
            link.active, link.source, link.consent_at, link.updated_at = True, "lookup", now, now
            new_chat = link.chat_id
            # The new chat's opt-in is for its own platform's medium.
            reason = f"subscribed to {d.code}"
            record_opt_in(
                session, new_chat, platform_of(new_chat), now, reason=reason, source="bot",
                purpose=self.consent_purpose,
            )  # fmt: skip
            audit.record(session, now, _actor(chat_id), "bot.confirm_link", d.code, chat=new_chat)
            return Confirmed(d.code, new_chat)

    def set_stopped(
        self, chat_id: str, stopped: bool, now: datetime, *, medium: str = TELEGRAM, reason: str | None = None
    ) -> None:
        """/huy and /batdau: the opt-out the dispatcher honours for `medium` ("telegram" by default).

        `chat_id` is the opt-out address: the conversation key, or an SMS sender's phone number.
        """
        with self.factory() as session, session.begin():
            if stopped:
                record_opt_out(session, chat_id, medium, now, reason=reason or "/huy", source="bot")
            else:
                record_opt_in(
                    session,
                    chat_id,
                    medium,
                    now,
                    reason=reason or "/batdau",
                    source="bot",
                    purpose=self.consent_purpose,
                )
            # An SMS's address is the citizen's phone number: the audit trail names it masked.
            sms = medium == "sms"
            actor, target = ("citizen-sms", mask_phone(chat_id)) if sms else (_actor(chat_id), chat_id)
            audit.record(session, now, actor, "bot.stop" if stopped else "bot.resume", target)

    # -- the chat's language ------------------------------------------------------------------------------
    def chat_language(self, chat_id: str) -> str | None:
        """The language the chat chose (/english, /tiengviet), or None if it never chose."""
        with self.factory() as session:
            return session.scalar(select(ChatPreference.language).where(ChatPreference.chat_id == chat_id))

    def chat_languages(self, chat_ids: list[str]) -> dict[str, str]:
        with self.factory() as session:
            rows = session.execute(
                select(ChatPreference.chat_id, ChatPreference.language).where(
                    ChatPreference.chat_id.in_(chat_ids)
                )
            ).all()
        return {chat_id: language for chat_id, language in rows}

    def set_chat_language(self, chat_id: str, language: str, now: datetime) -> None:
        for attempt in (1, 2):
            try:
                with self.factory() as session, session.begin():
                    row = session.get(ChatPreference, chat_id)
                    if row is None:
                        session.add(ChatPreference(chat_id=chat_id, language=language, updated_at=now))
                    else:
                        row.language, row.updated_at = language, now
                return
            except IntegrityError:  # another process stored the first choice at the same moment
                if attempt == 2:
                    raise

    # -- feedback ---------------------------------------------------------------------------------------
    def submit_feedback(
        self,
        chat_id: str,
        user_id: str,
        dossier_id: int | None,
        text: str,
        now: datetime,
        *,
        default_agency: str | None,
        working_days: int,
        day_end: time,
    ) -> Submitted:
        with self.factory() as session, session.begin():
            dossier = None
            if dossier_id is not None:
                dossier = session.scalar(
                    select(Dossier).where(Dossier.id == dossier_id).options(*_with_relations())
                )
            deadline = answer_deadline(self.calendar, now, working_days, day_end)
            return submit(
                session,
                limits=self.feedback_limits,
                chat_id=chat_id,
                user_id=user_id,
                text=text,
                dossier=dossier,
                default_agency_code=default_agency,
                now=now,
                deadline_at=deadline,
            )

    # -- personal data ----------------------------------------------------------------------------------
    def privacy_request(
        self, chat_id: str, kind: str, detail: str | None, now: datetime, *, working_days: int, day_end: time
    ) -> PrivacyRequest:
        """A data-subject request from the chat: the subject is what the chat proved (workflows.privacy)."""
        with self.factory() as session, session.begin():
            req = submit_privacy(
                session,
                kind=kind,
                channel="bot",
                requested_by=_actor(chat_id),
                chat_id=chat_id,
                detail=detail,
                now=now,
                deadline_at=answer_deadline(self.calendar, now, working_days, day_end),
            )
            session.expunge(req)
            return req
