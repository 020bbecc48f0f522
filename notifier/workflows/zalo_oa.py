"""The Zalo OA's webhook inbox: events stored at once by the webhook, applied here by a worker.

`accept` is all the webhook does (one INSERT ... ON CONFLICT DO NOTHING, so Zalo's retries are stored
once); `process` applies what waits, in order: the follower's window and phone, ZNS and OA delivery events
(receipts), officers' link codes and alert buttons, and anything else goes to the conversation (`Converse`:
the platform-free chat core, or the built-in help answer). An event is marked processed in the
transaction that applied it; the replies go out after that, so a crash replays no effect twice and a
failed reply is recorded on the event (`outcome = reply_failed`).

Officer buttons carry a mac bound to the officer's Zalo user id (notifier.channels.zalo_oa): a button
forwarded to someone else is refused without an answer. Zalo has no multi-step prompt, so "Đặt ngày hẹn
mới" answers with the one line to send back: `HEN <MaHoSo> dd/mm/yyyy lý do`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from notifier.channels.base import ChannelError
from notifier.channels.webhook import Receipt
from notifier.channels.zalo_oa import ZaloOa
from notifier.outbox.receipts import record_receipt
from notifier.rules.officer_buttons import parse_callback
from notifier.rules.phones import InvalidPhone, mask_phone, normalize_phone
from notifier.store.audit import record as audit
from notifier.store.bot_texts import BotTexts
from notifier.store.models import Officer, ZaloInboxEvent
from notifier.store.zalo import (
    InboxRow,
    add_link_code,
    follower,
    officer_by_zalo,
    pending_events,
    store_events,
    use_link_code,
)
from notifier.workflows.errors import DomainError, NotFound
from notifier.workflows.officer_actions import Actor, ApologyWorkflow, ResolveWorkflow
from notifier.workflows.service import Service

log = logging.getLogger(__name__)

MAX_TRIES = 5
# "LK 4F7K2Q9M" (liên kết): the one-time code printed by `notifier officer link-code`.
LINK = re.compile(r"^\s*(?:LK|LIENKET)\s+([A-Za-z0-9]{6,16})\s*$", re.IGNORECASE)
# "HEN <MaHoSo> 15/12/2026 lý do": an officer's new appointment date, after the button's prompt.
NEW_DATE = re.compile(r"^\s*HEN\s+(\S+)\s+(\d{1,2}/\d{1,2}/\d{4}(?:\s+\d{1,2}:\d{2})?)\s+(.+)$", re.I | re.S)
ACTIVE = {"user_send_text", "user_submit_info", "follow", "user_send_image", "user_send_link",
          "user_send_sticker", "user_send_location", "user_send_file", "user_send_audio"}  # fmt: skip
RECEIPTS = {"user_received_message", "user_seen_message"}


@dataclass(frozen=True)
class Reply:
    text: str
    buttons: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class PhoneRequest:
    title: str
    subtitle: str


Outgoing = Reply | PhoneRequest
# The conversation core: (Zalo user id, text) -> what to answer.
Converse = Callable[[str, str], Awaitable[list[Reply]]]


@dataclass
class InboxStats:
    processed: int = 0
    failed: int = 0
    replies: int = 0
    reply_failures: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)


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


def zalo_oa_channels(service: Service) -> list[str]:
    """The enabled channels run by the zalo_oa plugin (each has its own webhook URL and inbox)."""
    return [
        name
        for name, table in service.settings.channels.items()
        if table.get("plugin", name) == "zalo_oa" and service.channels.enabled(name)
    ]


def accept_events(service: Service, channel_name: str, rows: list[InboxRow]) -> int:
    """The webhook's part: store the events; how many were new (a retried one is not)."""
    with service.factory() as session, session.begin():
        return store_events(session, channel_name, rows, service.clock.now())


class ZaloOaInbox:
    def __init__(
        self, service: Service, channel_name: str = "zalo_oa", converse: Converse | None = None
    ) -> None:
        self.service = service
        self.name = channel_name
        self.texts = BotTexts(service.factory)
        self.converse = converse

    @property
    def channel(self) -> ZaloOa:
        channel = self.service.channels.get(self.name)
        if not isinstance(channel, ZaloOa):
            raise TypeError(f"channel '{self.name}' is not a zalo_oa channel")
        channel.bind_storage(self.service.factory)
        return channel

    # -- the worker's part -------------------------------------------------------------------------------
    async def process(self, limit: int = 100) -> InboxStats:
        stats = InboxStats()
        channel = self.channel
        if self.texts.stale():
            await asyncio.to_thread(self.texts.refresh)
        ids = await asyncio.to_thread(self._claim, limit)
        for event_id in ids:
            try:
                outcome, user_id, out = await self._apply(channel, event_id)
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

    def _claim(self, limit: int) -> list[int]:
        with self.service.factory() as session, session.begin():
            rows = pending_events(session, self.name, limit, MAX_TRIES)
            for row in rows:
                row.tries += 1  # counted before applying: an event that crashes the worker stops after 5
            return [row.id for row in rows]

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

    async def _apply(self, channel: ZaloOa, event_id: int) -> tuple[str, str | None, list[Outgoing]]:
        """Apply one event; returns its outcome, its follower and what to send them."""
        row, event = await asyncio.to_thread(self._load, event_id)
        name, user_id = row.event_name, row.user_id
        outcome, out = "ignored", list[Outgoing]()
        if name in RECEIPTS:
            outcome = await asyncio.to_thread(self._receipts, channel, event)
        elif user_id is None:
            outcome = "no_user"
        elif name == "user_send_text":
            text = str((event.get("message") or {}).get("text") or "")
            outcome, out = await self._text(channel, user_id, text)
        elif name == "user_submit_info":
            outcome, out = await asyncio.to_thread(self._phone, user_id, event)
        elif name == "follow":
            p = self.texts.render("zalo_phone_request").strip().split("\n", 1)
            welcome = self.texts.render("zalo_welcome", province=self.service.settings.province.name)
            outcome, out = "followed", [Reply(welcome), PhoneRequest(p[0].strip(), p[-1].strip())]
        elif name == "unfollow":
            outcome = "unfollowed"
        await asyncio.to_thread(self._done, row, outcome)
        return outcome, user_id, out

    def _load(self, event_id: int) -> tuple[ZaloInboxEvent, dict[str, Any]]:
        with self.service.factory() as session:
            row = session.get(ZaloInboxEvent, event_id)
            assert row is not None
            session.expunge(row)
        try:
            event = json.loads(row.body)
        except ValueError:
            event = {}
        return row, event if isinstance(event, dict) else {}

    def _done(self, row: ZaloInboxEvent, outcome: str) -> None:
        """The follower's state and the event's end, in one transaction."""
        now = self.service.clock.now()
        with self.service.factory() as session, session.begin():
            if row.user_id is not None and row.event_name not in RECEIPTS:
                f = follower(session, self.name, row.user_id, now)
                if row.event_name == "unfollow":
                    f.following = False
                elif row.event_name in ACTIVE:
                    f.following = True
                    at = row.occurred_at or row.received_at
                    # Events may be applied out of order (retries): the window follows the latest message.
                    if f.last_interaction_at is None or at > f.last_interaction_at:
                        f.last_interaction_at = at
                f.updated_at = now
            stored = session.get(ZaloInboxEvent, row.id)
            if stored is not None:
                stored.outcome, stored.processed_at = outcome, now

    # -- what each event does ----------------------------------------------------------------------------
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

    def _phone(self, user_id: str, event: dict[str, Any]) -> tuple[str, list[Outgoing]]:
        """user_submit_info: the follower who submits gives their own phone, with consent (Zalo asks)."""
        info = event.get("info") or {}
        try:
            phone = normalize_phone(str(info.get("phone") or ""))
        except InvalidPhone:
            return "phone_invalid", [Reply(self.texts.render("contact_invalid"))]
        now = self.service.clock.now()
        with self.service.factory() as session, session.begin():
            f = follower(session, self.name, user_id, now)
            f.phone, f.phone_consent_at, f.updated_at = phone, now, now
        return "phone_linked", [Reply(self.texts.render("zalo_phone_linked", phone_masked=mask_phone(phone)))]

    async def _text(self, channel: ZaloOa, user_id: str, text: str) -> tuple[str, list[Outgoing]]:
        if text.startswith("#"):
            data = channel.button_data(user_id, text)
            if data is None:
                return "button_refused", []  # someone else's (forwarded) or forged button: nothing happens
            return await asyncio.to_thread(self._button, user_id, data)
        if m := LINK.match(text):
            return await asyncio.to_thread(self._link, user_id, m.group(1))
        if m := NEW_DATE.match(text):
            return await asyncio.to_thread(self._new_date, user_id, m.group(1), m.group(2), m.group(3))
        if self.converse is not None:
            return "conversation", list(await self.converse(user_id, text))
        return "help", [Reply(self.texts.render("help"))]

    def _link(self, user_id: str, code: str) -> tuple[str, list[Outgoing]]:
        with self.service.factory() as session, session.begin():
            officer = use_link_code(session, code, user_id, self.service.clock.now())
            if officer is None:
                return "link_refused", [Reply(self.texts.render("officer_link_refused"))]
            text = self.texts.render("officer_linked", officer_name=officer.name, code=officer.code)
        return "officer_linked", [Reply(text)]

    def _officer_code(self, user_id: str) -> str | None:
        with self.service.factory() as session:
            officer = officer_by_zalo(session, user_id)
            return officer.code if officer is not None else None

    def _button(self, user_id: str, data: str) -> tuple[str, list[Outgoing]]:
        action = parse_callback(data)
        code = self._officer_code(user_id)
        if action is None or code is None:
            return "button_refused", []
        verb, dossier_id = action
        by = Actor("zalo", officer=code)
        try:
            dossier = ResolveWorkflow(self.service).may_act(dossier_id, by)
            if verb == "n":
                return "new_date_prompt", [Reply(self.texts.render("officer_new_date_prompt", code=dossier))]
            if verb in ("r", "rc"):
                ResolveWorkflow(self.service).resolve(dossier, by)
                return "resolved", [Reply(self.texts.render("officer_resolved", code=dossier))]
        except DomainError as exc:
            return "refused", [Reply(self.texts.render("officer_action_refused", reason=exc.reason))]
        return "cancelled", []

    def _new_date(self, user_id: str, dossier: str, when: str, reason: str) -> tuple[str, list[Outgoing]]:
        code = self._officer_code(user_id)
        if code is None:
            return "help", [Reply(self.texts.render("help"))]
        try:
            done = ApologyWorkflow(self.service).set_new_date(
                dossier, when, reason.strip(), Actor("zalo", officer=code)
            )
        except DomainError as exc:
            return "refused", [Reply(self.texts.render("officer_action_refused", reason=exc.reason))]
        text = self.texts.render(
            "officer_new_date_set", code=done.code, number=done.number, new_due_at=done.new_due_at
        )
        return "new_date_set", [Reply(text)]
