"""An eSMS-style brandname gateway: one JSON POST per SMS, CodeResult 100 on success, 124 on a RequestId it
has already seen."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.server import FakeServer

SEND_PATH = "/MainService.svc/json/SendMultipleMessage_V4_post_json/"


@dataclass
class FakeEsms(FakeServer):
    api_key: str = "esms-key"
    secret_key: str = "esms-secret"
    # Per call: a CodeResult to answer, an int HTTP status to fail with, or None for success.
    script: list[str | int | None] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)
    accepted: dict[str, str] = field(default_factory=dict)  # RequestId -> SMSID

    def __post_init__(self) -> None:
        super().__init__()
        self.app.router.add_post(SEND_PATH, self._send)

    async def _send(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.received.append(body)
        step = self.script.pop(0) if self.script else None
        if isinstance(step, int):
            return web.Response(status=step, text="upstream trouble", headers={"Retry-After": "30"})
        if body.get("ApiKey") != self.api_key or body.get("SecretKey") != self.secret_key:
            return web.json_response({"CodeResult": "101", "ErrorMessage": "Authorize Failed"})
        if step is not None:
            return web.json_response({"CodeResult": step, "ErrorMessage": f"error {step}"})
        request_id = body.get("RequestId")
        if request_id and request_id in self.accepted:
            return web.json_response({"CodeResult": "124", "ErrorMessage": "Duplicate RequestId"})
        sms_id = f"esms-{len(self.accepted) + 1:04d}"
        if request_id:
            self.accepted[request_id] = sms_id
        return web.json_response({"CodeResult": "100", "CountRegenerate": 0, "SMSID": sms_id})
