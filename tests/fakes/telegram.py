"""The Bot API's sendMessage, as aiogram calls it (form-encoded POST to /bot<token>/sendMessage)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.server import FakeServer


@dataclass
class FakeTelegram(FakeServer):
    token: str = "123456:TEST-token_for-loopback"
    # Per call: (HTTP status, description, parameters) to fail with, or None to deliver.
    script: list[tuple[int, str, dict[str, Any]] | None] = field(default_factory=list)
    blocked: set[str] = field(default_factory=set)  # chats that blocked the bot
    received: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__()
        self.app.router.add_post("/bot{token}/{method}", self._method)

    async def _method(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        if request.match_info["method"].lower() != "sendmessage":
            return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)
        form = {k: str(v) for k, v in (await request.post()).items()}
        if "reply_markup" in form:
            form["reply_markup"] = json.loads(form["reply_markup"])
        self.received.append(form)
        step = self.script.pop(0) if self.script else None
        if step is None and form["chat_id"] in self.blocked:
            step = (403, "Forbidden: bot was blocked by the user", {})
        if step is not None:
            status, description, parameters = step
            body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
            if parameters:
                body["parameters"] = parameters
            return web.json_response(body, status=status)
        chat_id = int(form["chat_id"])
        result = {
            "message_id": len(self.received),
            "date": 1764554400,
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "group"},
            "text": form["text"],
        }
        return web.json_response({"ok": True, "result": result})
