"""Drive the chatbot through one platform's adapter, so a scenario is written once and run on each.

A driver is one platform end to end: the real adapter, its loopback fake of the platform's server, and a
real Service (SQLite or PostgreSQL) seeded with the bot harness's dossiers (tests/fakes/bot_harness.py).
Scenarios (tests/test_chat_scenarios.py) take the `chat` fixture, parametrised over DRIVERS; adding a
platform is one class here and one entry in DRIVERS:

    class ZaloDriver:
        name = "zalo_oa"
        platform_name = "Zalo"
        @classmethod
        async def start(cls, db_url, tmp_path, clock, **settings) -> ZaloDriver: ...
        async def stop(self) -> None: ...
        async def send_text(self, who, text) -> list[Said]: ...      # every reply to that event
        async def press(self, who, label) -> list[Said]: ...         # a button of an earlier reply
        async def press_payload(self, who, payload) -> list[Said]: ...  # a button on a pushed alert
        async def share_contact(self, who, phone, *, own=True) -> list[Said]: ...
        def replies(self, who) -> list[Said]: ...                    # all replies so far
        def link_officer(self, who, officer_code) -> None: ...       # the officer writes from `who`

`who` is a small int naming a person; each driver maps it to its platform's ids (Telegram: chat id = user
id = who). Each method returns once the event has been handled completely, so a scenario never sleeps.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

import httpx
from sqlalchemy import select, update

from notifier.bot.runner import BotRuntime
from notifier.rules.clock import FixedClock
from notifier.rules.i18n import LANGUAGES
from notifier.store.models import ChatFormState, Officer
from notifier.web.api import create_app
from notifier.workflows.conversation import main_menu
from notifier.workflows.service import Service
from notifier.workflows.zalo_oa import ZaloOaInbox
from tests.conftest import make_settings
from tests.fakes.bot_harness import seed
from tests.fakes.telegram_bot_api import BOT_ID, TOKEN, FakeBotAPI
from tests.fakes.zalo import FakeZaloOa


@dataclass(frozen=True)
class Said:
    """One reply as the citizen sees it, whatever the platform."""

    text: str
    buttons: tuple[tuple[str, str], ...] = ()  # (label, payload) of the buttons under the message
    menu: bool = False  # the main menu came with it
    menu_labels: tuple[str, ...] = ()  # its labels (the language it is drawn in)
    asks_reply: bool = False  # the user is asked to answer this message

    def button(self, label: str) -> str:
        for text, payload in self.buttons:
            if text == label:
                return payload
        raise AssertionError(f"no button {label!r} under {self.text[:60]!r}: {self.buttons}")


class ChatDriver(Protocol):
    name: ClassVar[str]
    platform_name: ClassVar[str]  # as the texts name it ("qua Telegram này", "qua Zalo này")
    service: Service

    async def stop(self) -> None: ...
    async def send_text(self, who: int, text: str) -> list[Said]: ...
    async def press(self, who: int, label: str) -> list[Said]: ...
    async def press_payload(self, who: int, payload: str) -> list[Said]: ...
    async def share_contact(self, who: int, phone: str, *, own: bool = True) -> list[Said]: ...
    def replies(self, who: int) -> list[Said]: ...
    def link_officer(self, who: int, officer_code: str) -> None: ...


# -- Telegram ------------------------------------------------------------------------------------------------


def said_on_telegram(params: dict[str, Any]) -> Said:
    markup = params.get("reply_markup") or {}
    rows = markup.get("inline_keyboard") or []
    buttons = tuple((b["text"], b.get("callback_data", "")) for row in rows for b in row)
    return Said(
        params.get("text", ""),
        buttons,
        menu="keyboard" in markup,
        asks_reply=bool(markup.get("force_reply")),
        menu_labels=tuple(b["text"] for row in markup.get("keyboard") or [] for b in row),
    )


@dataclass
class TelegramDriver:
    """The real aiogram dispatcher fed each update and awaited (as in webhook mode); its Bot sends the
    replies to the loopback fake Bot API, which records them."""

    name: ClassVar[str] = "telegram"
    platform_name: ClassVar[str] = "Telegram"
    fake: FakeBotAPI
    runtime: BotRuntime
    service: Service
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _last_prompt: dict[int, str] = field(default_factory=dict)
    language_codes: dict[int, str] = field(default_factory=dict)  # the user's app language; else "vi"

    @classmethod
    async def start(cls, db_url: str, tmp_path: Path, clock: FixedClock, **overrides: Any) -> TelegramDriver:
        fake = FakeBotAPI()
        await fake.start()
        channels = {"telegram": {"token": TOKEN, "base_url": fake.base_url}, **overrides.pop("channels", {})}
        service = Service.build(make_settings(db_url, tmp_path, channels=channels, **overrides), clock)
        service.migrate()
        seed(service)
        return cls(fake, BotRuntime.build(service, texts_ttl=0), service)

    async def stop(self) -> None:
        await self.runtime.stop()
        await self.fake.stop()
        await self.service.aclose()

    # -- updates -------------------------------------------------------------------------------------------
    def _message(self, who: int, **body: Any) -> dict[str, Any]:
        return {
            "message_id": next(self._ids),
            "date": 0,
            "chat": {"id": who, "type": "private", "first_name": "Hương"},
            "from": {
                "id": who,
                "is_bot": False,
                "first_name": "Hương",
                "language_code": self.language_codes.get(who, "vi"),
            },
            **body,
        }

    async def _feed(self, who: int, update: dict[str, Any]) -> list[Said]:
        before = len(self.replies(who))
        await self.runtime.feed({"update_id": next(self._ids), **update})
        return self.replies(who)[before:]

    async def send_text(self, who: int, text: str) -> list[Said]:
        body: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            body["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        prompt = self._last_prompt.pop(who, None)
        if prompt is not None:  # the user answers the message that asked (Telegram's reply)
            body["reply_to_message"] = {
                "message_id": 1,
                "date": 0,
                "chat": {"id": who, "type": "private"},
                "from": {"id": BOT_ID, "is_bot": True, "first_name": "bot"},
                "text": prompt,
            }
        said = await self._feed(who, {"message": self._message(who, **body)})
        self._remember_prompt(who, said)
        return said

    def _remember_prompt(self, who: int, said: list[Said]) -> None:
        for s in said:
            if s.asks_reply:
                self._last_prompt[who] = s.text

    async def press_payload(self, who: int, payload: str) -> list[Said]:
        query = {
            "id": f"cq{next(self._ids)}",
            "from": {"id": who, "is_bot": False, "first_name": "Hương"},
            "chat_instance": f"ci{who}",
            "message": {
                "message_id": 1,
                "date": 0,
                "chat": {"id": who, "type": "private"},
                "from": {"id": BOT_ID, "is_bot": True, "first_name": "bot"},
                "text": "…",
            },
            "data": payload,
        }
        said = await self._feed(who, {"callback_query": query})
        self._remember_prompt(who, said)
        return said

    async def press(self, who: int, label: str) -> list[Said]:
        for s in reversed(self.replies(who)):
            if any(text == label for text, _ in s.buttons):
                return await self.press_payload(who, s.button(label))
        raise AssertionError(f"no reply to {who} has a button {label!r}")

    async def share_contact(self, who: int, phone: str, *, own: bool = True) -> list[Said]:
        contact = {"phone_number": phone, "first_name": "Hương", "user_id": who if own else who + 1}
        return await self._feed(who, {"message": self._message(who, contact=contact)})

    def replies(self, who: int) -> list[Said]:
        out = []
        for call in self.fake.calls:
            if call.method.lower() in ("sendmessage", "editmessagetext") and str(
                call.params.get("chat_id")
            ) == str(who):
                out.append(said_on_telegram(call.params))
        return out

    def notices(self) -> list[str]:
        return [str(p.get("text", "")) for p in self.fake.calls_to("answerCallbackQuery")]

    def link_officer(self, who: int, officer_code: str) -> None:
        with self.service.factory() as session, session.begin():
            session.execute(
                update(Officer).where(Officer.code == officer_code).values(telegram_chat_id=str(who))
            )


# -- Zalo OA -------------------------------------------------------------------------------------------------

ZALO_APP, ZALO_OA_SECRET = "4321", "oa-secret"


def zalo_user(who: int) -> str:
    return f"7301{who:015d}"


def said_on_zalo(body: dict[str, Any], asks_reply: bool = False) -> Said:
    message = body.get("message") or {}
    payload = (message.get("attachment") or {}).get("payload") or {}
    if payload.get("template_type") == "request_user_info":
        [element] = payload.get("elements") or [{}]
        return Said(str(element.get("title", "")))
    buttons = tuple((b["title"], b["payload"]) for b in payload.get("buttons") or [])
    sent = {t for t, _ in buttons}
    menu = any({b.label for row in main_menu(lang) for b in row} <= sent for lang in LANGUAGES)
    labels = tuple(t for t, _ in buttons) if menu else ()
    return Said(message.get("text", ""), buttons, menu=menu, asks_reply=asks_reply, menu_labels=labels)


@dataclass
class ZaloDriver:
    """Signed events posted to the real webhook route of the app, then the inbox worker (the adapter over
    the conversation core) applies them; its cs messages reach the loopback fake of Zalo's OA API."""

    name: ClassVar[str] = "zalo_oa"
    platform_name: ClassVar[str] = "Zalo"
    fake: FakeZaloOa
    service: Service
    inbox: ZaloOaInbox
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _saved_env: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    async def start(cls, db_url: str, tmp_path: Path, clock: FixedClock, **overrides: Any) -> ZaloDriver:
        fake = FakeZaloOa()
        await fake.start()
        env = {
            "CHAT_ZALO_SECRET": fake.app_secret,
            "CHAT_ZALO_OA": ZALO_OA_SECRET,
            "CHAT_ZALO_REFRESH": fake.refresh_token,
        }
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        table = {
            "plugin": "zalo_oa", "base_url": fake.url, "oauth_url": f"{fake.url}/v4/oa/access_token",
            "app_id": ZALO_APP, "app_secret_env": "CHAT_ZALO_SECRET", "oa_secret_env": "CHAT_ZALO_OA",
            "access_token_env": None, "refresh_token_env": "CHAT_ZALO_REFRESH",
        }  # fmt: skip
        channels = {"zalo_oa": table, **overrides.pop("channels", {})}
        service = Service.build(make_settings(db_url, tmp_path, channels=channels, **overrides), clock)
        service.migrate()
        seed(service)
        return cls(fake, service, ZaloOaInbox(service, "zalo_oa"), _saved_env=saved)

    async def stop(self) -> None:
        await self.fake.stop()
        await self.service.aclose()
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    async def _post(self, who: int, event_name: str, **fields: Any) -> list[Said]:
        before = len(self.replies(who))
        ts = str(int(self.service.clock.now().timestamp() * 1000) + next(self._ids))
        event = {"app_id": ZALO_APP, "event_name": event_name, "sender": {"id": zalo_user(who)},
                 "recipient": {"id": "oa-1"}, "timestamp": ts, **fields}  # fmt: skip
        body = json.dumps(event, ensure_ascii=False).encode()
        mac = hashlib.sha256(ZALO_APP.encode() + body + ts.encode() + ZALO_OA_SECRET.encode()).hexdigest()
        headers = {"content-type": "application/json", "X-ZEvent-Signature": f"mac={mac}"}
        transport = httpx.ASGITransport(app=create_app(self.service))
        async with httpx.AsyncClient(transport=transport, base_url="http://n.internal") as c:
            answer = await c.post("/webhooks/zalo_oa/inbound", content=body, headers=headers)
        assert answer.status_code == 200, answer.text
        await self.inbox.process()
        return self.replies(who)[before:]

    async def send_text(self, who: int, text: str) -> list[Said]:
        return await self._post(
            who, "user_send_text", message={"msg_id": f"m{next(self._ids)}", "text": text}
        )

    async def press(self, who: int, label: str) -> list[Said]:
        # A query button sends its payload as the follower's text message.
        for s in reversed(self.replies(who)):
            if any(text == label for text, _ in s.buttons):
                return await self.send_text(who, s.button(label))
        raise AssertionError(f"no reply to {who} has a button {label!r}")

    async def press_payload(self, who: int, payload: str) -> list[Said]:
        # A button on a pushed alert: the channel signed its payload for the officer it was sent to.
        channel = self.inbox.channel
        return await self.send_text(who, channel.button_payload(zalo_user(who), payload))

    async def share_contact(self, who: int, phone: str, *, own: bool = True) -> list[Said]:
        if own:  # the answer to the request-user-info message: always the submitter's own phone
            return await self._post(who, "user_submit_info", info={"name": "Hương", "phone": phone})
        # Someone else's number comes as a forwarded contact card.
        card = {"type": "contact", "payload": {"phone": phone, "description": "Hương"}}
        return await self._post(who, "user_send_business_card",
                                message={"msg_id": f"m{next(self._ids)}", "attachments": [card]})  # fmt: skip

    def replies(self, who: int) -> list[Said]:
        uid = zalo_user(who)
        sent = [m for m in self.fake.cs if m["recipient"]["user_id"] == uid]
        with self.service.factory() as session:
            step = session.scalar(
                select(ChatFormState.step).where(ChatFormState.chat_id == f"zalo_oa:{uid}")
            )
        # Zalo has no reply-to-a-message: the core remembers what it asked (the follower's form step).
        return [
            said_on_zalo(m, asks_reply=i == len(sent) - 1 and step is not None) for i, m in enumerate(sent)
        ]

    def link_officer(self, who: int, officer_code: str) -> None:
        with self.service.factory() as session, session.begin():
            session.execute(
                update(Officer).where(Officer.code == officer_code).values(zalo_user_id=zalo_user(who))
            )


DRIVERS: list[type[Any]] = [TelegramDriver, ZaloDriver]
