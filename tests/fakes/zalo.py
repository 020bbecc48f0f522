"""Zalo's ZNS send endpoint and its OAuth token refresh (single-use refresh tokens)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.server import FakeServer


@dataclass
class FakeZalo(FakeServer):
    app_id: str = "4321"
    app_secret: str = "zalo-app-secret"
    access_token: str = "access-1"
    refresh_token: str = "refresh-1"
    expires_in: int = 90000
    # Per send: a ZNS error code to answer, or None for success.
    script: list[int | None] = field(default_factory=list)
    not_on_zalo: set[str] = field(default_factory=set)  # phones (84...) without a Zalo account
    received: list[dict[str, Any]] = field(default_factory=list)
    refreshes: list[dict[str, str]] = field(default_factory=list)
    tokens_seen: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__()
        self.app.router.add_post("/message/template", self._send)
        self.app.router.add_post("/v4/oa/access_token", self._refresh)
        self._issued = 1

    async def _send(self, request: web.Request) -> web.Response:
        token = request.headers.get("access_token", "")
        self.tokens_seen.append(token)
        if token != self.access_token:
            return web.json_response({"error": -124, "message": "Access token invalid"})
        body = await request.json()
        self.received.append(body)
        step = self.script.pop(0) if self.script else None
        if step is None and body.get("phone") in self.not_on_zalo:
            step = -118
        if step is not None:
            return web.json_response({"error": step, "message": f"error {step}"})
        return web.json_response(
            {
                "error": 0,
                "message": "Success",
                "data": {"msg_id": f"zns-{len(self.received)}", "sent_time": "0"},
            }
        )

    async def _refresh(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.refreshes.append(form)
        if request.headers.get("secret_key") != self.app_secret or form.get("app_id") != self.app_id:
            return web.json_response({"error": -14002, "error_name": "Invalid app secret"})
        if form.get("refresh_token") != self.refresh_token or form.get("grant_type") != "refresh_token":
            return web.json_response({"error": -14014, "error_name": "Invalid refresh token"})
        self._issued += 1
        self.access_token = f"access-{self._issued}"
        self.refresh_token = f"refresh-{self._issued}"  # the old one is spent
        return web.json_response(
            {
                "access_token": self.access_token,
                "refresh_token": self.refresh_token,
                "expires_in": str(self.expires_in),
            }
        )


@dataclass
class FakeZaloOa(FakeZalo):
    """The same app's OA API next to ZNS: customer-service messages (text, query buttons, request-user-info).

    Zalo itself refuses a cs message to a non-follower or outside the window; `refuse` scripts that answer
    for some user ids (the channel should not even ask: it checks the window first)."""

    cs: list[dict[str, Any]] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    fail_next: int = 0  # answer HTTP 500 this many times

    def __post_init__(self) -> None:
        super().__post_init__()
        self.app.router.add_post("/v3.0/oa/message/cs", self._cs)

    async def _cs(self, request: web.Request) -> web.Response:
        token = request.headers.get("access_token", "")
        self.tokens_seen.append(token)
        if token != self.access_token:
            return web.json_response({"error": -216, "message": "Access token is invalid"})
        if self.fail_next:
            self.fail_next -= 1
            return web.Response(status=500)
        body = await request.json()
        user = str((body.get("recipient") or {}).get("user_id") or "")
        if user in self.refuse:
            return web.json_response({"error": -213, "message": "User has not interacted with the OA"})
        self.cs.append(body)
        return web.json_response(
            {"error": 0, "message": "Success", "data": {"message_id": f"oa-{len(self.cs)}", "user_id": user}}
        )

    def texts_to(self, user_id: str) -> list[str]:
        return [m["message"].get("text", "") for m in self.cs if m["recipient"]["user_id"] == user_id]
