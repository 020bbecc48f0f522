"""sms_esms: the real channel (aiohttp) against a loopback eSMS-style gateway."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from notifier.channels.base import Message, PermanentError, TransientError
from notifier.channels.registry import ChannelConfigError, build
from notifier.rules.clock import FixedClock
from tests.fakes.esms import FakeEsms
from tests.fakes.helpers import build as build_service
from tests.fakes.helpers import notes, received_dossier


@pytest.fixture
async def esms(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeEsms]:
    fake = FakeEsms()
    await fake.start()
    monkeypatch.setenv("TEST_ESMS_KEY", fake.api_key)
    monkeypatch.setenv("TEST_ESMS_SECRET", fake.secret_key)
    monkeypatch.setenv("TEST_ESMS_CALLBACK", "cb-token-123")
    yield fake
    await fake.stop()


def table(fake: FakeEsms, **extra: Any) -> dict[str, Any]:
    return {
        "plugin": "sms_esms",
        "base_url": fake.url,
        "api_key_env": "TEST_ESMS_KEY",
        "secret_key_env": "TEST_ESMS_SECRET",
        "brandname": "UBND-HP",
        "callback_token_env": "TEST_ESMS_CALLBACK",
        "public_base_url": "https://notifier.example.gov.vn/",
        **extra,
    }


def message(text: str = "Hồ sơ A đã được tiếp nhận.", attempt: int = 1, n: int = 7) -> Message:
    return Message(n, "received", "citizen", "+84912345678", text, attempt=attempt)


async def send(fake: FakeEsms, clock: FixedClock, msg: Message, **extra: Any) -> str:
    channel = build("sms_esms", table(fake, **extra), clock)
    try:
        return await channel.send(msg)
    finally:
        await channel.aclose()


async def test_gateway_receives_national_number_brandname_and_unicode_flag(esms: FakeEsms, clock: FixedClock) -> None:
    provider_id = await send(esms, clock, message())
    [body] = esms.received
    assert body["Phone"] == "0912345678"
    assert body["Content"] == "Hồ sơ A đã được tiếp nhận."
    assert body["IsUnicode"] == "1"
    assert (body["Brandname"], body["SmsType"], body["Sandbox"]) == ("UBND-HP", "2", "0")
    assert (body["ApiKey"], body["SecretKey"]) == ("esms-key", "esms-secret")
    assert body["RequestId"] == "notifier-7"
    assert body["CallbackUrl"] == "https://notifier.example.gov.vn/webhooks/sms_esms/receipt?token=cb-token-123"
    assert provider_id == "esms-0001"


async def test_plain_text_goes_as_non_unicode(esms: FakeEsms, clock: FixedClock) -> None:
    await send(esms, clock, message("Ho so A da duoc tiep nhan."))
    assert esms.received[0]["IsUnicode"] == "0"


async def test_no_callback_url_without_a_token_to_check_it(
    esms: FakeEsms, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    await send(esms, clock, message(), callback_token_env=None)
    assert "CallbackUrl" not in esms.received[0]


async def test_a_replayed_request_id_counts_as_sent_once(esms: FakeEsms, clock: FixedClock) -> None:
    first = await send(esms, clock, message())
    again = await send(esms, clock, message(attempt=2))
    assert first == "esms-0001" and again == "esms:notifier-7"
    assert len(esms.accepted) == 1


@pytest.mark.parametrize(
    ("step", "kind", "fallback", "text"),
    [
        ("99", PermanentError, True, "eSMS 99 phone number blocked"),
        ("108", PermanentError, True, "eSMS 108 phone number format"),
        ("146", PermanentError, True, "eSMS 146 content not in template"),
        ("103", TransientError, None, "eSMS 103 balance too low"),
        ("104", TransientError, None, "eSMS 104 brandname not registered"),
        (503, TransientError, None, "eSMS HTTP 503"),
        (400, PermanentError, False, "eSMS HTTP 400"),
    ],
)
async def test_gateway_codes_map_to_transient_or_permanent(
    esms: FakeEsms, clock: FixedClock, step: str | int, kind: type, fallback: bool | None, text: str
) -> None:
    esms.script = [step]
    with pytest.raises(kind, match=text) as info:
        await send(esms, clock, message())
    if fallback is not None:
        assert info.value.fallback is fallback


async def test_retry_after_header_is_passed_on(esms: FakeEsms, clock: FixedClock) -> None:
    esms.script = [429]
    with pytest.raises(TransientError) as info:
        await send(esms, clock, message())
    assert info.value.retry_after == 30


async def test_wrong_keys_are_the_operators_problem_not_the_citizens(
    esms: FakeEsms, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_ESMS_SECRET", "wrong")
    with pytest.raises(TransientError, match="101 wrong ApiKey/SecretKey"):
        await send(esms, clock, message())


def test_brandname_longer_than_11_characters_is_refused(esms: FakeEsms, clock: FixedClock) -> None:
    with pytest.raises(ChannelConfigError, match="field brandname: value 'UBNDHAIPHONG1'"):
        build("sms_esms", table(esms, brandname="UBNDHAIPHONG1"), clock)


async def test_dispatch_retries_a_gateway_outage_with_its_retry_after(
    db_url: str, tmp_path: Path, clock: FixedClock, esms: FakeEsms
) -> None:
    svc = build_service(db_url, tmp_path, clock, {"sms_esms": table(esms, khong_dau="auto", max_segments=1)},
                        citizen=["sms_esms"])  # fmt: skip
    svc.settings.dispatch.backoff_base_seconds = 10
    esms.script = [503]
    received_dossier(svc)
    assert (await svc.dispatcher.drain()).retried == 1
    [n] = notes(svc)
    assert n.not_before == clock.now() + timedelta(seconds=30)  # the gateway's Retry-After beats our 10 s
    clock.advance(timedelta(seconds=30))
    assert (await svc.dispatcher.drain()).sent == 1
    await svc.channels.aclose()
    [n] = notes(svc)
    # "auto" with a one-part budget: the two-part Vietnamese text went out folded, as GSM-7
    assert esms.received[-1]["IsUnicode"] == "0" and "da duoc tiep nhan" in esms.received[-1]["Content"]
    assert (n.status, n.segments, n.provider_id) == ("sent", 1, "esms-0001")
    assert [b["RequestId"] for b in esms.received] == [f"notifier-{n.id}"] * 2


async def test_metrics_show_a_failing_gateway_while_its_messages_wait_for_their_retry(
    db_url: str, tmp_path: Path, clock: FixedClock, esms: FakeEsms
) -> None:
    """The gateway answers 500: the row stays `queued` (channel not yet known, waiting for its retry, so
    not due either), and /metrics must still tell the operator which channel fails and how often."""
    from fastapi.testclient import TestClient
    from prometheus_client.parser import text_string_to_metric_families

    from notifier.web.api import create_app

    svc = build_service(db_url, tmp_path, clock, {"sms_esms": table(esms)}, citizen=["sms_esms"])
    svc.settings.dispatch.backoff_base_seconds = 10
    esms.script = [500, 500]
    received_dossier(svc)
    client = TestClient(create_app(svc))

    def attempts() -> dict[tuple[str, str], float]:
        families = {f.name: f for f in text_string_to_metric_families(client.get("/metrics").text)}
        return {
            (s.labels["channel"], s.labels["outcome"]): s.value
            for s in families["notifier_delivery_attempts"].samples
            if s.name == "notifier_delivery_attempts_total"
        }

    assert attempts() == {}
    assert (await svc.dispatcher.drain()).retried == 1
    assert attempts() == {("sms_esms", "transient"): 1.0}
    clock.advance(timedelta(seconds=30))
    assert (await svc.dispatcher.drain()).retried == 1
    assert attempts() == {("sms_esms", "transient"): 2.0}
    clock.advance(timedelta(seconds=30))
    assert (await svc.dispatcher.drain()).sent == 1
    await svc.channels.aclose()
    assert attempts() == {("sms_esms", "transient"): 2.0, ("sms_esms", "sent"): 1.0}
    [n] = notes(svc)
    assert (n.status, n.attempts) == ("sent", 3) and len(esms.accepted) == 1


async def test_a_failing_gateway_is_logged_as_a_warning(
    db_url: str, tmp_path: Path, clock: FixedClock, esms: FakeEsms, caplog: pytest.LogCaptureFixture
) -> None:
    """`notifier run` logs at WARNING by default: a gateway answering 500 must show there (as callbacks
    not taken do), once per batch, with the provider's reason and without the citizen's number."""
    svc = build_service(db_url, tmp_path, clock, {"sms_esms": table(esms)}, citizen=["sms_esms"],
                        dispatch={"backoff_base_seconds": 10, "max_attempts": 2})  # fmt: skip
    esms.script = [500, 500]
    received_dossier(svc)
    caplog.set_level(logging.WARNING, logger="notifier")
    assert (await svc.dispatcher.drain()).retried == 1
    clock.advance(timedelta(seconds=30))
    assert (await svc.dispatcher.drain()).failed == 1
    await svc.channels.aclose()
    [n] = notes(svc)
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("notifier.outbox")]
    assert lines == [
        f"dispatch: 1 of 1 to be retried, 0 failed; first: notification {n.id}: sms_esms: eSMS HTTP 500",
        f"dispatch: 0 of 1 to be retried, 1 failed; first: notification {n.id}: "
        "gave up after 2 attempts: sms_esms: eSMS HTTP 500",
    ]
