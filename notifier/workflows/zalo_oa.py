"""The Zalo OA adapter: the app's webhook events, stored at once by the webhook, applied here by a worker.

`accept_events` is all the webhook does (one INSERT ... ON CONFLICT DO NOTHING, so Zalo's retries are
stored once). `ZaloOaInbox.process` applies what waits, oldest first: the follower's interaction window
(any message they send opens it; unfollow closes it), ZNS and OA delivery events (receipts of the channel
that sent the message), officers' one-time link codes ("LK <code>"), and everything else through the
platform-free conversation core (notifier.workflows.conversation), translating only:

- follow / unfollow / user_send_text / user_submit_info / other user_send_* -> Follow / Unfollow /
  TextIn / ContactIn (owner: the submitting follower) / OtherIn; a text starting with "#" is a query
  button's payload -> Press, once its mac shows it was sent to this follower;
- the core's replies -> cs messages; ACTION buttons -> `oa.query.show` buttons with a signed payload,
  MENU buttons -> query buttons sending their label, CONTACT -> the request-user-info message.

The event is marked processed when applied; its replies go out after, so a crash never applies an event
twice, and a reply Zalo refused is recorded on the event (`outcome = reply_failed`). The conversation's
form step is kept in the database (StoredChatState, table chat_states, with the chat's language read in
the same statement), shared by every worker and kept over a restart.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, case, or_, select, update
from sqlalchemy.orm import Session

from notifier.channels.base import ChannelError
from notifier.channels.webhook import Receipt
from notifier.channels.zalo_oa import ZaloOa
from notifier.outbox.receipts import record_receipt
from notifier.rules.chat_keys import conversation_key
from notifier.rules.phones import phone_or_none
from notifier.store import chat_states
from notifier.store.audit import record as audit
from notifier.store.bot_texts import BotTexts
from notifier.store.contacts import record_opt_in
from notifier.store.models import AwareDateTime, ChatLink, Dossier, Officer, ZaloFollower, ZaloInboxEvent
from notifier.store.zalo import (
    InboxRow,
    add_dossier_link_code,
    add_link_code,
    follower,
    pending_events,
    store_events,
    use_dossier_link_code,
    use_link_code,
)
from notifier.workflows.conversation import (
    SHARE_PHONE,
    ButtonKind,
    ContactIn,
    Conversation,
    Follow,
    Incoming,
    OtherIn,
    Outcome,
    Platform,
    Press,
    Sender,
    StoredChatState,
    TextIn,
    Unfollow,
    main_menu,
    menu_item,
)
from notifier.workflows.errors import NotFound
from notifier.workflows.service import Service

log = logging.getLogger(__name__)

MAX_TRIES = 5
CLAIM = timedelta(minutes=2)  # how long a worker holds the events it took (one batch takes seconds)
# "LK 4F7K2Q9M" (liên kết): the one-time code printed by `notifier officer link-code`.
LINK = re.compile(r"^\s*(?:LK|LIENKET)\s+([A-Za-z0-9]{6,16})\s*$", re.IGNORECASE)
LINK_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud or typed on a phone
LINK_CODE_LENGTH = 8
LINK_CODE_TTL = timedelta(hours=24)


@dataclass(frozen=True)
class LinkCode:
    officer: str
    code: str
    expires_at: datetime


def new_link_code(service: Service, officer_code: str, by: str = "cli") -> LinkCode:
    """A one-time code the officer sends to the OA ("LK <code>") to link their Zalo account; it replaces
    their earlier unused codes, lasts 24 hours and is stored only as a hash."""
    now = service.clock.now()
    code = "".join(secrets.choice(LINK_CODE_ALPHABET) for _ in range(LINK_CODE_LENGTH))
    with service.factory() as session, session.begin():
        officer = session.scalar(select(Officer).where(Officer.code == officer_code))
        if officer is None or not officer.active:
            raise NotFound("officer", officer_code, "no active officer with this code (MaCanBo)")
        add_link_code(session, officer, code, now, LINK_CODE_TTL)
        audit(session, now, actor=by, action="officer.zalo_link_code", target=officer_code)
    return LinkCode(officer_code, code, now + LINK_CODE_TTL)


DOSSIER_CODE_TTL = timedelta(hours=24)


def new_dossier_link_code(service: Service, dossier_code: str, by: str = "web") -> LinkCode:
    """A one-time code that makes the Zalo follower who sends "LK <code>" to the OA receive one dossier's
    notices (the public page gives it after a look-up or a QR link); officers' codes work the same way."""
    now = service.clock.now()
    code = "".join(secrets.choice(LINK_CODE_ALPHABET) for _ in range(LINK_CODE_LENGTH))
    with service.factory() as session, session.begin():
        dossier_id = session.scalar(select(Dossier.id).where(Dossier.code == dossier_code))
        if dossier_id is None:
            raise NotFound("MaHoSo", dossier_code, "no dossier with this code", refusal="unknown_dossier")
        add_dossier_link_code(session, dossier_id, code, now, DOSSIER_CODE_TTL)
        audit(session, now, actor=by, action="public.zalo_link_code", target=dossier_code)
    return LinkCode(dossier_code, code, now + DOSSIER_CODE_TTL)


def zalo_oa_channels(service: Service) -> list[str]:
    """The enabled channels run by the zalo_oa plugin (each has its own webhook URL and inbox)."""
    return [
        name
        for name, table in service.settings.channels.items()
        if table.get("plugin", name) == "zalo_oa" and service.channels.enabled(name)
    ]


def accept_events(service: Service, channel_name: str, rows: list[InboxRow]) -> int:
    """Store the events; how many were new (a retried one is not)."""
    with service.factory() as session, session.begin():
        return len(store_events(session, channel_name, rows, service.clock.now()))


Waiting = tuple[str, list[InboxRow], "asyncio.Future[int]"]


class InboxWriter:
    """The webhook's part, with group commit: calls that arrive while a write is under way share the next
    INSERT and COMMIT, so the answer waits for one short transaction however many events come at once
    (Zalo stops calling a slow webhook). Each call is answered only once its events are committed.

    One per event loop (the web app keeps it in `app.state`)."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self._waiting: list[Waiting] = []
        self._writing = False
        self._task: asyncio.Task[None] | None = None

    async def accept(self, channel_name: str, rows: list[InboxRow]) -> int:
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiting.append((channel_name, rows, done))
        if not self._writing:
            self._writing = True
            self._task = asyncio.create_task(self._drain())
        return await done

    async def _drain(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                try:
                    counts = await asyncio.to_thread(self._write, batch)
                except Exception as exc:
                    for *_, done in batch:
                        if not done.done():
                            done.set_exception(exc)
                    continue
                for (*_, done), count in zip(batch, counts, strict=True):
                    if not done.done():
                        done.set_result(count)
        finally:
            self._writing = False

    def _write(self, batch: list[Waiting]) -> list[int]:
        now = self.service.clock.now()
        by_channel: dict[str, list[InboxRow]] = {}
        for name, rows, _ in batch:
            by_channel.setdefault(name, []).extend(rows)
        with self.service.factory() as session, session.begin():
            new = {name: store_events(session, name, rows, now) for name, rows in by_channel.items()}
        counts = []
        for name, rows, _ in batch:
            fresh = new[name]
            counts.append(sum(1 for r in rows if r.event_id in fresh))
            fresh -= {r.event_id for r in rows}  # a copy in the same batch is not new a second time
        return counts


ACTIVE = {"user_send_text", "user_submit_info", "follow", "user_send_image", "user_send_link",
          "user_send_sticker", "user_send_location", "user_send_file", "user_send_audio",
          "user_send_gif", "user_send_video", "user_send_business_card"}  # fmt: skip
RECEIPTS = {"user_received_message", "user_seen_message"}
Preloaded = tuple[str | None, dict[str, Any], str | None]  # a conversation's step, data and language
_WHO = (ZaloFollower.channel == bindparam("b_channel")) & (ZaloFollower.user_id == bindparam("b_user"))
_AT = bindparam("b_at", type_=AwareDateTime())
_LATEST = or_(ZaloFollower.last_interaction_at.is_(None), ZaloFollower.last_interaction_at < _AT)
# The window's statements (ZaloOaInbox._window), built once: a message opens it (retries may arrive out
# of order, so it follows the latest), an unfollow closes it.
INTERACTED = (
    update(ZaloFollower)
    .where(_WHO)
    .values(
        following=True,
        last_interaction_at=case((_LATEST, _AT), else_=ZaloFollower.last_interaction_at),
        updated_at=bindparam("b_now"),
    )
)
UNFOLLOWED = update(ZaloFollower).where(_WHO).values(following=False, updated_at=bindparam("b_now"))
TOUCHED = update(ZaloFollower).where(_WHO).values(updated_at=bindparam("b_now"))
DONE = (
    update(ZaloInboxEvent)
    .where(ZaloInboxEvent.id == bindparam("b_id"))
    .values(outcome=bindparam("b_outcome"), processed_at=bindparam("b_at"))
)


@dataclass(frozen=True)
class Say:
    """One message to the follower: text with query buttons (label, payload)."""

    text: str
    buttons: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class PhoneRequest:
    title: str
    subtitle: str


Outgoing = Say | PhoneRequest


@dataclass
class InboxStats:
    processed: int = 0
    failed: int = 0
    replies: int = 0
    reply_failures: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)


def translate(channel: ZaloOa, user_id: str, outcome: Outcome) -> list[Outgoing]:
    """The core's answer in what Zalo has: ACTION buttons become query buttons whose payload comes back
    signed for this follower; MENU and CONTACT buttons query buttons that send their label back as text
    (Zalo has no reply keyboard; the CONTACT label is answered with the request-user-info message); a
    press's notice becomes a message."""
    out: list[Outgoing] = []
    for reply in outcome.replies:
        rows = main_menu(reply.language) if reply.menu and not reply.buttons else reply.buttons
        buttons: list[tuple[str, str]] = []
        for row in rows:
            for b in row:
                if b.kind in (ButtonKind.MENU, ButtonKind.CONTACT):
                    buttons.append((b.label, b.label))
                elif b.payload is not None:
                    buttons.append((b.label, channel.button_payload(user_id, b.payload)))
        out.append(Say(reply.text, tuple(buttons)))
    if outcome.notice and not outcome.replies:
        out.append(Say(outcome.notice))
    return out


class ZaloOaInbox:
    """The Zalo adapter: Zalo's events in, the conversation core's answers out, in Zalo's shapes."""

    def __init__(
        self, service: Service, channel_name: str = "zalo_oa", conversation: Conversation | None = None
    ) -> None:
        self.service = service
        self.name = channel_name
        self._conversation = conversation
        self.texts = BotTexts(service.factory)

    @property
    def channel(self) -> ZaloOa:
        channel = self.service.channels.get(self.name)
        if not isinstance(channel, ZaloOa):
            raise TypeError(f"channel '{self.name}' is not a zalo_oa channel")
        channel.bind_storage(self.service.factory)
        return channel

    def conversation(self, channel: ZaloOa) -> Conversation:
        if self._conversation is None:
            self._conversation = Conversation.from_service(self.service, channel.button_secret)
        return self._conversation

    async def process(self, limit: int = 100) -> InboxStats:
        """Apply what waits, oldest first. Events of one follower are applied one at a time, in order (the
        core's rule: a burst of guesses cannot pass the failure count together)."""
        stats = InboxStats()
        channel = self.channel
        if self.texts.stale():
            await asyncio.to_thread(self.texts.refresh)
        claimed = await asyncio.to_thread(self._claim, limit)
        for row in claimed:
            event_id = row.id
            try:
                outcome, user_id, out = await self._apply(channel, row)
            except Exception as exc:  # one bad event must not stop the inbox
                log.exception("zalo inbox event %s", event_id)
                await asyncio.to_thread(self._finish, event_id, None, f"{type(exc).__name__}: {exc}")
                stats.failed += 1
                continue
            stats.processed += 1
            stats.outcomes[outcome] = stats.outcomes.get(outcome, 0) + 1
            for item in out:
                assert user_id is not None
                try:
                    if isinstance(item, PhoneRequest):
                        await channel.request_phone(user_id, item.title, item.subtitle)
                    else:
                        await channel.reply(user_id, item.text, item.buttons)
                    stats.replies += 1
                except ChannelError as exc:
                    stats.reply_failures += 1
                    await asyncio.to_thread(self._finish, event_id, "reply_failed", str(exc))
                    break
        return stats

    def _claim(self, limit: int) -> list[ZaloInboxEvent]:
        """The events this worker takes, detached with their bodies (not read again one by one)."""
        now = self.service.clock.now()
        with self.service.factory() as session, session.begin():
            # Skip-locked on PostgreSQL, and the claim itself: another worker passes over these rows until
            # the claim runs out (a worker that died mid-batch leaves them to the next).
            rows = pending_events(session, self.name, limit, MAX_TRIES, now)
            for row in rows:
                row.tries += 1  # counted before applying: an event that crashes the worker stops after 5
                row.claimed_until = now + CLAIM
            session.flush()
            for row in rows:
                session.expunge(row)
            return rows

    def _finish(self, event_id: int, outcome: str | None, error: str) -> None:
        with self.service.factory() as session, session.begin():
            row = session.get(ZaloInboxEvent, event_id)
            if row is None:
                return
            row.error = error[:2000]
            if outcome is not None:
                row.outcome = outcome
            elif row.tries >= MAX_TRIES:
                row.outcome, row.processed_at = "failed", self.service.clock.now()

    def _begin(self, row: ZaloInboxEvent) -> tuple[dict[str, Any], Preloaded | None]:
        """The claimed event's body, the follower's window updated for it and the conversation's state
        (with the chat's language), in one transaction: fewer round trips per event for the worker."""
        now = self.service.clock.now()
        preloaded = None
        if row.user_id is not None and row.event_name not in RECEIPTS:
            with self.service.factory() as session, session.begin():
                self._window(session, row, now)
                key = conversation_key(ZaloOa.medium, row.user_id)
                preloaded = chat_states.load(session, Platform.ZALO_OA.value, key, now)
        try:
            event = json.loads(row.body)
        except ValueError:
            event = {}
        return event if isinstance(event, dict) else {}, preloaded

    def _window(self, session: Session, row: ZaloInboxEvent, now: datetime) -> None:
        """The follower's state first: what they did opens (or closes) the window for what follows."""
        assert row.user_id is not None
        at = row.occurred_at or row.received_at
        if row.event_name == "unfollow":
            statement = UNFOLLOWED
        elif row.event_name in ACTIVE:
            statement = INTERACTED
        else:
            statement = TOUCHED
        params = {"b_channel": self.name, "b_user": row.user_id, "b_at": at, "b_now": now}
        # A known follower (nearly every event) is one UPDATE; one seen for the first time is created.
        if int(getattr(session.connection().execute(statement, params), "rowcount", 0) or 0):
            return
        f = follower(session, self.name, row.user_id, now)
        if row.event_name == "unfollow":
            f.following = False
        elif row.event_name in ACTIVE:
            f.following = True
            at = row.occurred_at or row.received_at
            # Retries may arrive out of order: the window follows the latest message.
            if f.last_interaction_at is None or at > f.last_interaction_at:
                f.last_interaction_at = at
        f.updated_at = now

    def _done(self, event_id: int, outcome: str) -> None:
        params = {"b_id": event_id, "b_outcome": outcome, "b_at": self.service.clock.now()}
        with self.service.factory() as session, session.begin():
            session.connection().execute(DONE, params)  # one prepared UPDATE: no row loaded

    async def _apply(self, channel: ZaloOa, row: ZaloInboxEvent) -> tuple[str, str | None, list[Outgoing]]:
        """Apply one event; returns its outcome, its follower and what to send them."""
        event_id = row.id
        event, preloaded = await asyncio.to_thread(self._begin, row)
        name, user_id = row.event_name, row.user_id
        if name in RECEIPTS:
            outcome = await asyncio.to_thread(self._receipts, channel, event)
            await asyncio.to_thread(self._done, event_id, outcome)
            return outcome, user_id, []
        if user_id is None:
            await asyncio.to_thread(self._done, event_id, "no_user")
            return "no_user", None, []
        sender = Sender(Platform.ZALO_OA, chat_id=user_id, user_id=user_id)
        core = self.conversation(channel)
        ttl = timedelta(seconds=self.service.settings.bot.chat_state_ttl_seconds)
        state = StoredChatState(self.service.factory, self.service.clock, sender, ttl, preloaded)
        label, incoming = name, self._incoming(channel, sender, name, event)
        out: list[Outgoing] = []
        if isinstance(incoming, str):
            label = (
                incoming  # handled here (link codes, the share-phone button) or refused (a foreign button)
            )
            if label == "phone_requested":
                out = [self._phone_request(await core.language(sender, state))]
            if (m := LINK.match(str((event.get("message") or {}).get("text") or ""))) and label == "link":
                language = await core.language(sender, state)
                label, text = await asyncio.to_thread(self._link, user_id, m.group(1), language)
                out = [Say(text)]
        elif incoming is not None:
            if isinstance(incoming, ContactIn):
                await asyncio.to_thread(self._phone, user_id, incoming.phone)
            out = translate(channel, user_id, await core.handle(incoming, state))
            if isinstance(incoming, Follow):
                # ask at once: the phone is what routes pushes here
                out.append(self._phone_request(await core.language(sender, state)))
        await asyncio.to_thread(self._done, event_id, label)
        return label, user_id, out

    def _incoming(
        self, channel: ZaloOa, sender: Sender, name: str, event: dict[str, Any]
    ) -> Incoming | str | None:
        user_id = sender.chat_id
        if name == "follow":
            return Follow(sender)
        if name == "unfollow":
            return Unfollow(sender)
        if name == "user_submit_info":
            info = event.get("info") or {}
            # Zalo's user_submit_info comes from the follower who submitted: the phone is their own.
            return ContactIn(sender, str(info.get("phone") or ""), owner_id=user_id)
        if name == "user_send_text":
            text = str((event.get("message") or {}).get("text") or "")
            if text.startswith("#"):
                payload = channel.button_data(user_id, text)
                # Someone else's (forwarded) or a forged button: nothing happens.
                return "button_refused" if payload is None else Press(sender, payload)
            if LINK.match(text):
                return "link"
            if menu_item(text) == SHARE_PHONE:  # its label in either language
                return "phone_requested"
            return TextIn(sender, text)
        if name == "user_send_business_card":
            # A contact card forwarded by the follower: a phone the platform does not vouch for as theirs
            # (the core refuses to link it). The card's fields are assumed (SDKs), not confirmed.
            cards = (event.get("message") or {}).get("attachments") or [{}]
            phone = str((cards[0].get("payload") or {}).get("phone") or "")
            return ContactIn(sender, phone, owner_id=None) if phone else OtherIn(sender)
        if name in ACTIVE:
            return OtherIn(sender)
        return None  # OA-side events (oa_send_text…): nothing to answer

    def _link_dossier(self, session: Session, code: str, user_id: str, now: datetime) -> str | None:
        """A citizen's code from the public page: this follower receives the dossier's notices (with the
        consent recorded). The dossier's code, or None when the code is no live dossier code."""
        dossier_id = use_dossier_link_code(session, code, user_id, now)
        dossier = session.get(Dossier, dossier_id) if dossier_id is not None else None
        if dossier is None:
            return None
        key = conversation_key(ZaloOa.medium, user_id)
        link = session.scalar(
            select(ChatLink).where(ChatLink.chat_id == key, ChatLink.dossier_id == dossier.id)
        )
        if link is None:
            link = ChatLink(chat_id=key, dossier_id=dossier.id, source="web", created_at=now)
            session.add(link)
        link.user_id, link.active, link.consent_at, link.updated_at = user_id, True, now, now
        record_opt_in(
            session, key, ZaloOa.medium, now, reason=f"subscribed to {dossier.code}", source="web",
            purpose=self.service.settings.privacy.consent_purpose,
        )  # fmt: skip
        audit(session, now, actor=key, action="public.zalo_linked", target=dossier.code)
        return dossier.code

    # -- what the adapter does itself --------------------------------------------------------------------
    def _phone_request(self, language: str) -> PhoneRequest:
        title, _, subtitle = (
            self.texts.render("zalo_phone_request", language=language).strip().partition("\n")
        )
        return PhoneRequest(title.strip(), subtitle.strip() or title.strip())

    def _receipts(self, channel: ZaloOa, event: dict[str, Any]) -> str:
        """ZNS and OA deliveries arrive on the app's one webhook: receipts of the channel that sent them."""
        msg = event.get("message") or {}
        tracking = str(msg.get("tracking_id") or "")
        ids = [str(i) for i in (msg.get("msg_ids") or [msg.get("msg_id")]) if i]
        zns = channel.s.zns_channel
        name, medium = (zns, "zalo") if tracking and zns else (self.name, ZaloOa.medium)
        receipts = [
            Receipt("delivered", provider_id=i, notification_id=int(tracking) if tracking.isdigit() else None)
            for i in ids
        ] or ([Receipt("delivered", notification_id=int(tracking))] if tracking.isdigit() else [])
        now = self.service.clock.now()
        with self.service.factory() as session, session.begin():
            outcomes = [record_receipt(session, name, medium, r, now) for r in receipts]
        return "receipt:" + (",".join(sorted(set(outcomes))) or "none")

    def _phone(self, user_id: str, raw: str) -> None:
        """The phone a follower shared (with Zalo's consent screen): routing finds them by it."""
        phone = phone_or_none(raw)
        if phone is None:
            return  # the core answers contact_invalid
        now = self.service.clock.now()
        with self.service.factory() as session, session.begin():
            f = follower(session, self.name, user_id, now)
            f.phone, f.phone_consent_at, f.updated_at = phone, now, now

    def _link(self, user_id: str, code: str, language: str) -> tuple[str, str]:
        """Apply an "LK <code>": an officer's or a dossier's code; the answer in the chat's language."""
        with self.service.factory() as session, session.begin():
            now = self.service.clock.now()
            officer = use_link_code(session, code, user_id, now)
            if officer is None:
                dossier_code = self._link_dossier(session, code, user_id, now)
                if dossier_code is not None:
                    return "dossier_linked", self.texts.render(
                        "subscribed", language=language, code=dossier_code, platform="Zalo"
                    )
                return "link_refused", self.texts.render("officer_link_refused", language=language)
            return "officer_linked", self.texts.render(
                "officer_linked", language=language, officer_name=officer.name, code=officer.code
            )
