"""A fake Telegram Bot API server on 127.0.0.1 for the real aiogram client.

It serves queued updates through getUpdates (long polling, capped at a short wait), answers sendMessage
and the other methods the bot calls, and records every call with its decoded parameters. Tests build
updates with `message`, `contact` and `callback`, then wait for the bot's replies with `wait_sent`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

TOKEN = "123456789:TEST-fake-token_for-tests"
BOT_ID = 123456789


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float = field(default_factory=time.monotonic)


def _decode(value: str) -> Any:
    # aiogram sends nested objects (reply_markup, allowed_updates, commands) as JSON text in form fields.
    if value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


class FakeBotAPI:
    def __init__(self, token: str = TOKEN, *, max_poll_wait: float = 0.2) -> None:
        self.token = token
        self.max_poll_wait = max_poll_wait
        self.calls: list[Call] = []
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1000)
        self._changed: asyncio.Condition | None = None
        self._runner: web.AppRunner | None = None
        self.base_url = ""
        self.webhook: dict[str, Any] | None = None
        self.fail_next: dict[str, tuple[int, dict[str, Any]]] = {}  # method -> (status, body)

    # -- server ----------------------------------------------------------------------------------------
    async def start(self) -> str:
        self._changed = asyncio.Condition()
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}"
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeBotAPI:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        method = request.match_info["method"]
        form = await request.post()
        params = {k: _decode(v) if isinstance(v, str) else v for k, v in form.items()}
        if method.lower() != "getupdates":
            self.calls.append(Call(method, params))
        if method in self.fail_next:
            status, body = self.fail_next.pop(method)
            return web.json_response(body, status=status)
        result = await getattr(self, f"_m_{method.lower()}", self._m_default)(params)
        assert self._changed is not None
        async with self._changed:
            self._changed.notify_all()
        return web.json_response({"ok": True, "result": result})

    async def _m_default(self, params: dict[str, Any]) -> Any:
        return True

    async def _m_getme(self, params: dict[str, Any]) -> Any:
        return {"id": BOT_ID, "is_bot": True, "first_name": "Tra cứu hồ sơ", "username": "tracuu_hoso_bot"}

    async def _m_getupdates(self, params: dict[str, Any]) -> Any:
        offset = int(params.get("offset") or 0)
        if offset:
            # Telegram forgets updates below the offset: they were confirmed.
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        wait = min(float(params.get("timeout") or 0), self.max_poll_wait)
        assert self._changed is not None
        if not self._updates and wait > 0:
            async with self._changed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait_for(lambda: bool(self._updates)), wait)
        return list(self._updates[:100])

    async def _m_sendmessage(self, params: dict[str, Any]) -> Any:
        chat_id = int(params["chat_id"])
        return {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "group"},
            "from": {"id": BOT_ID, "is_bot": True, "first_name": "Tra cứu hồ sơ"},
            "text": params.get("text", ""),
        }

    async def _m_setwebhook(self, params: dict[str, Any]) -> Any:
        self.webhook = params
        return True

    async def _m_deletewebhook(self, params: dict[str, Any]) -> Any:
        self.webhook = None
        return True

    # -- updates ---------------------------------------------------------------------------------------
    def push(self, body: dict[str, Any]) -> dict[str, Any]:
        update = {"update_id": next(self._update_ids), **body}
        self._updates.append(update)
        if self._changed is not None:
            asyncio.get_running_loop().create_task(self._notify())
        return update

    async def _notify(self) -> None:
        assert self._changed is not None
        async with self._changed:
            self._changed.notify_all()

    @staticmethod
    def _user(user_id: int, first_name: str) -> dict[str, Any]:
        return {"id": user_id, "is_bot": False, "first_name": first_name, "language_code": "vi"}

    def _message(self, chat_id: int, user_id: int | None, first_name: str, chat_type: str) -> dict[str, Any]:
        chat: dict[str, Any] = {"id": chat_id, "type": chat_type}
        if chat_type == "private":
            chat["first_name"] = first_name
        else:
            chat["title"] = "Nhóm"
        return {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": chat,
            "from": self._user(user_id or chat_id, first_name),
        }

    def message(
        self,
        chat_id: int,
        text: str,
        *,
        user_id: int | None = None,
        first_name: str = "Hương",
        chat_type: str = "private",
    ) -> dict[str, Any]:
        msg = {**self._message(chat_id, user_id, first_name, chat_type), "text": text}
        if text.startswith("/"):
            command = text.split()[0]
            msg["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return self.push({"message": msg})

    def contact(
        self, chat_id: int, phone: str, *, contact_user_id: int | None, user_id: int | None = None
    ) -> dict[str, Any]:
        contact: dict[str, Any] = {"phone_number": phone, "first_name": "Hương"}
        if contact_user_id is not None:
            contact["user_id"] = contact_user_id
        msg = {**self._message(chat_id, user_id, "Hương", "private"), "contact": contact}
        return self.push({"message": msg})

    def callback(
        self, chat_id: int, data: str, *, user_id: int | None = None, message_id: int = 1
    ) -> dict[str, Any]:
        message = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private", "first_name": "Hương"},
            "from": {"id": BOT_ID, "is_bot": True, "first_name": "Tra cứu hồ sơ"},
            "text": "…",
        }
        query = {
            "id": f"cq{next(self._update_ids)}",
            "from": self._user(user_id or chat_id, "Hương"),
            "chat_instance": f"ci{chat_id}",
            "message": message,
            "data": data,
        }
        return self.push({"callback_query": query})

    @property
    def pending(self) -> int:
        """Updates not yet confirmed by a later getUpdates offset."""
        return len(self._updates)

    # -- what the bot did ------------------------------------------------------------------------------
    def calls_to(self, method: str) -> list[dict[str, Any]]:
        return [c.params for c in self.calls if c.method.lower() == method.lower()]

    def sent(self, chat_id: int | None = None) -> list[dict[str, Any]]:
        return [p for p in self.calls_to("sendMessage") if chat_id is None or int(p["chat_id"]) == chat_id]

    async def wait_for(self, predicate: Any, timeout: float = 30.0) -> None:
        assert self._changed is not None
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(predicate), timeout)

    async def wait_sent(self, chat_id: int, count: int = 1, timeout: float = 30.0) -> list[dict[str, Any]]:
        """The chat's sendMessage calls once there are at least `count` of them."""
        try:
            await self.wait_for(lambda: len(self.sent(chat_id)) >= count, timeout)
        except TimeoutError:
            raise AssertionError(
                f"chat {chat_id}: expected {count} messages, got {len(self.sent(chat_id))}: {self.sent(chat_id)}"
            ) from None
        return self.sent(chat_id)

    async def answer_to(self, update: Any, chat_id: int, timeout: float = 30.0) -> dict[str, Any]:
        """Push an update (a callable returning it, called after counting) and wait for the chat's next reply."""
        before = len(self.sent(chat_id))
        update()
        return (await self.wait_sent(chat_id, before + 1, timeout))[before]

    async def say(self, chat_id: int, text: str, **kwargs: Any) -> dict[str, Any]:
        """Send `text` from the chat and return the bot's reply."""
        return await self.answer_to(lambda: self.message(chat_id, text, **kwargs), chat_id)
