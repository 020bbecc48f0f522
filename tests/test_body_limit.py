"""Request bodies are limited per route before they are read: 413, and the rest of the body never pulled."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from notifier.rules.clock import FixedClock
from notifier.store.apikeys import create_key
from notifier.web.api import create_app
from notifier.web.body_limit import BodyLimits
from notifier.workflows.service import Service
from tests.conftest import migrated_service

CHUNK = b"x" * (1 << 20)  # 1 MiB, the same object every time: the test itself holds no gigabyte


class Endless:
    """A streamed body of `total` bytes, counting how much of it the server pulled."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.pulled < self.total:
            self.pulled += len(CHUNK)
            yield CHUNK


# A Twilio channel that is never called: its receipt route reads the body to check the signature.
TWILIO = {
    "plugin": "sms_twilio", "account_sid": "AC1", "auth_token_env": "TEST_TWILIO_TOKEN",
    "from_number": "+15005550006", "base_url": "http://127.0.0.1:9", "public_base_url": "https://n.example",
}  # fmt: skip


@pytest.fixture
def small(db_url: str, tmp_path: Path, clock: FixedClock, monkeypatch: pytest.MonkeyPatch) -> Service:
    monkeypatch.setenv("TEST_TWILIO_TOKEN", "token")
    return migrated_service(
        db_url, tmp_path, clock, channels={"sms_twilio": TWILIO},
        api={"max_body_bytes": 100_000, "import_max_body_bytes": 3_000_000, "webhook_max_body_bytes": 10_000},
    )  # fmt: skip


def _client(service: Service) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(service)), base_url="http://t")


def test_each_route_has_its_limit() -> None:
    limits = BodyLimits(default=1, imports=2, webhooks=3)
    assert limits.for_path("POST", "/webhooks/sms_twilio/receipt") == 3
    assert limits.for_path("POST", "/api/v1/dossiers") == 2
    assert limits.for_path("POST", "/api/v1/progress") == 2
    assert limits.for_path("POST", "/api/v1/dossiers/X/apology") == 1
    assert limits.for_path("POST", "/admin/login") == 1


async def test_a_gigabyte_streamed_to_a_webhook_is_refused_after_its_limit(small: Service) -> None:
    body = Endless(1 << 30)
    async with _client(small) as c:
        resp = await c.post("/webhooks/sms_twilio/receipt", content=body.__aiter__())
    assert resp.status_code == 413
    # The route's limit is 10 kB: the server stopped at the first chunk of 1 MiB, not after 1,024 of them.
    assert body.pulled <= 2 * len(CHUNK)


async def test_an_import_may_be_larger_but_not_endless(small: Service) -> None:
    with small.factory() as session, session.begin():
        key = create_key(session, "portal", small.clock.now())
    body = Endless(1 << 30)
    headers = {"Authorization": f"Bearer {key}", "content-type": "application/json"}
    async with _client(small) as c:
        resp = await c.post("/api/v1/dossiers", content=body.__aiter__(), headers=headers)
    assert resp.status_code == 413
    assert 3 * len(CHUNK) <= body.pulled <= 4 * len(CHUNK)  # 3 MB allowed, refused at the 4th MiB


async def test_a_declared_length_over_the_limit_is_refused_before_any_byte_is_read(small: Service) -> None:
    body = Endless(1 << 30)
    headers = {"content-length": str(1 << 30)}
    async with _client(small) as c:
        resp = await c.post("/webhooks/sms_twilio/receipt", content=body.__aiter__(), headers=headers)
    assert resp.status_code == 413
    assert resp.json()["detail"][0]["field"] == "body"
    assert body.pulled <= len(CHUNK)  # at most what the client pushed before the answer: never read


async def test_bodies_under_the_limit_pass(small: Service) -> None:
    async with _client(small) as c:
        resp = await c.post("/webhooks/sms_twilio/receipt", content=b"x" * 9_000)
    assert resp.status_code == 403  # past the limit: the channel checks the (missing) signature
