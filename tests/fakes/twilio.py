"""Twilio's Messages resource (2010-04-01), as much as the SDK uses: create and list, basic auth."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from typing import Any

from aiohttp import web

from tests.fakes.server import FakeServer


@dataclass
class TwilioError:
    status: int
    code: int
    message: str


@dataclass
class FakeTwilio(FakeServer):
    account_sid: str = "AC00000000000000000000000000000001"
    auth_token: str = "test-auth-token"
    now: Callable[[], datetime] | None = None
    # What to answer: an error for the next create, or None to accept it.
    errors: list[TwilioError | None] = field(default_factory=list)
    created: list[dict[str, str]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    list_calls: list[dict[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__()
        path = f"/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        self.app.router.add_post(path, self._create)
        self.app.router.add_get(path, self._list)

    def _authorised(self, request: web.Request) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return request.headers.get("Authorization") == f"Basic {expected}"

    @staticmethod
    def _error(err: TwilioError) -> web.Response:
        body = {"code": err.code, "message": err.message, "status": err.status, "more_info": ""}
        return web.json_response(body, status=err.status)

    async def _create(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return self._error(TwilioError(401, 20003, "Authenticate"))
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.created.append(form)
        err = self.errors.pop(0) if self.errors else None
        if err is not None:
            return self._error(err)
        sid = f"SM{len(self.messages) + 1:032d}"
        message = {
            "sid": sid,
            "account_sid": self.account_sid,
            "to": form.get("To"),
            "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "body": form.get("Body"),
            "status": "queued",
            "direction": "outbound-api",
            "num_segments": "1",
            "date_created": format_datetime(self.now()) if self.now else None,
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
        }
        self.messages.append(message)
        return web.json_response(message, status=201)

    async def _list(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return self._error(TwilioError(401, 20003, "Authenticate"))
        query = dict(request.query)
        self.list_calls.append(query)
        found = [m for m in reversed(self.messages) if not query.get("To") or m["to"] == query["To"]]
        size = int(query.get("PageSize", 50))
        return web.json_response(
            {
                "messages": found[:size],
                "end": min(size, len(found)) - 1,
                "first_page_uri": request.path_qs,
                "next_page_uri": None,
                "previous_page_uri": None,
                "page": 0,
                "page_size": size,
                "start": 0,
                "uri": request.path_qs,
            }
        )
