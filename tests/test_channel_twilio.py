"""sms_twilio: the real twilio SDK against a loopback fake of the Messages API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from notifier.channels.base import Message, PermanentError, TransientError
from notifier.channels.registry import ChannelConfigError, build
from notifier.rules.clock import FixedClock
from tests.fakes.helpers import attempts, notes, opted_out, received_dossier
from tests.fakes.helpers import build as build_service
from tests.fakes.twilio import FakeTwilio, TwilioError

PUBLIC = "https://notifier.example.gov.vn"


@pytest.fixture
async def twilio(clock: FixedClock, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeTwilio]:
    fake = FakeTwilio(now=clock.now)
    await fake.start()
    monkeypatch.setenv("TEST_TWILIO_TOKEN", fake.auth_token)
    yield fake
    await fake.stop()


def table(fake: FakeTwilio, **extra: Any) -> dict[str, Any]:
    return {
        "plugin": "sms_twilio",
        "account_sid": fake.account_sid,
        "auth_token_env": "TEST_TWILIO_TOKEN",
        "from_number": "+15005550006",
        "base_url": fake.url,
        "public_base_url": PUBLIC,
        **extra,
    }


def message(notification_id: int = 42, text: str = "Hồ sơ A đã được tiếp nhận.", attempt: int = 1) -> Message:
    return Message(notification_id, "received", "citizen", "+84912345678", text, attempt=attempt)


async def test_message_reaches_twilio_with_number_body_and_status_callback(
    twilio: FakeTwilio, clock: FixedClock
) -> None:
    channel = build("sms_twilio", table(twilio), clock)
    try:
        sid = await channel.send(message())
    finally:
        await channel.aclose()
    [sent] = twilio.created
    assert sent["To"] == "+84912345678"
    assert sent["From"] == "+15005550006"
    assert sent["Body"] == "Hồ sơ A đã được tiếp nhận."
    assert sent["StatusCallback"] == f"{PUBLIC}/webhooks/sms_twilio/receipt?n=42"
    assert sent["SmartEncoded"] == "false"  # encoding is decided by notifier (không dấu), not by Twilio
    assert sid == twilio.messages[0]["sid"]


async def test_messaging_service_is_used_when_configured(twilio: FakeTwilio, clock: FixedClock) -> None:
    channel = build("sms_twilio", table(twilio, from_number=None, messaging_service_sid="MG123"), clock)
    try:
        await channel.send(message())
    finally:
        await channel.aclose()
    assert twilio.created[0]["MessagingServiceSid"] == "MG123" and "From" not in twilio.created[0]


@pytest.mark.parametrize(
    ("error", "kind", "fallback", "opt_out"),
    [
        (TwilioError(400, 21211, "Invalid 'To' Phone Number"), PermanentError, True, False),
        (TwilioError(400, 21610, "Attempt to send to unsubscribed recipient"), PermanentError, True, True),
        (TwilioError(400, 21602, "Message body is required"), PermanentError, False, False),
        (TwilioError(429, 20429, "Too Many Requests"), TransientError, None, None),
        (TwilioError(503, 20500, "Service unavailable"), TransientError, None, None),
        (TwilioError(401, 20003, "Authenticate"), TransientError, None, None),
    ],
)
async def test_provider_errors_map_to_transient_or_permanent(
    twilio: FakeTwilio, clock: FixedClock, error: TwilioError, kind: type, fallback: bool, opt_out: bool
) -> None:
    twilio.errors = [error]
    channel = build("sms_twilio", table(twilio), clock)
    try:
        with pytest.raises(kind) as info:
            await channel.send(message())
    finally:
        await channel.aclose()
    assert str(error.code) in str(info.value)
    if kind is PermanentError:
        assert (info.value.fallback, info.value.opt_out) == (fallback, opt_out)


async def test_unreachable_api_is_transient(clock: FixedClock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_TWILIO_TOKEN", "x")
    fake = FakeTwilio()
    await fake.start()
    url = fake.url
    await fake.stop()  # nothing listens there any more
    channel = build("sms_twilio", {**table(fake), "base_url": url}, clock)
    try:
        with pytest.raises(TransientError, match="Twilio unreachable"):
            await channel.send(message())
    finally:
        await channel.aclose()


async def test_a_replayed_row_already_at_twilio_is_not_sent_twice(twilio: FakeTwilio, clock: FixedClock) -> None:
    channel = build("sms_twilio", table(twilio), clock)
    try:
        first = await channel.send(message())
        # the worker died before recording; the row comes back as attempt 2
        again = await channel.send(message(attempt=2))
        # a different text to the same number is a different message
        other = await channel.send(message(43, "Hồ sơ B đã được tiếp nhận.", attempt=2))
    finally:
        await channel.aclose()
    assert again == first
    assert len(twilio.created) == 2 and other != first
    assert twilio.list_calls and twilio.list_calls[0]["To"] == "+84912345678"


def test_missing_secret_and_sender_are_named(clock: FixedClock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOPE_TOKEN", raising=False)
    base = {"account_sid": "AC1", "from_number": "+15005550006"}
    with pytest.raises(ChannelConfigError, match=r"\[channels.sms\] field auth_token_env: value 'NOPE_TOKEN'"):
        build("sms", {"plugin": "sms_twilio", **base, "auth_token_env": "NOPE_TOKEN"}, clock)
    monkeypatch.setenv("T", "x")
    with pytest.raises(ChannelConfigError, match=r"field messaging_service_sid: .*set from_number or messaging_service_sid"):
        build("sms", {"plugin": "sms_twilio", "account_sid": "AC1", "auth_token_env": "T"}, clock)
    with pytest.raises(ChannelConfigError, match="field khong_dau"):
        build("sms", {"plugin": "sms_twilio", **base, "auth_token_env": "T", "khong_dau": "sometimes"}, clock)


async def test_dispatch_sends_khong_dau_through_twilio_and_records_segments(
    db_url: str, tmp_path: Path, clock: FixedClock, twilio: FakeTwilio
) -> None:
    svc = build_service(
        db_url, tmp_path, clock, {"sms_twilio": table(twilio, khong_dau=True)}, citizen=["sms_twilio", "file"]
    )
    received_dossier(svc)
    assert (await svc.dispatcher.drain()).sent == 1
    await svc.channels.aclose()
    [sent] = twilio.created
    assert sent["Body"].startswith("So Tu phap thanh pho Hai Phong: Ho so 000.00.30.H26-261120-0001 da duoc tiep nhan")
    [n] = notes(svc)
    assert (n.status, n.channel, n.provider_id) == ("sent", "sms_twilio", twilio.messages[0]["sid"])
    assert n.body == sent["Body"] and n.segments == 1
    assert sent["StatusCallback"] == f"{PUBLIC}/webhooks/sms_twilio/receipt?n={n.id}"


async def test_unsubscribed_number_falls_back_and_is_opted_out_of_sms(
    db_url: str, tmp_path: Path, clock: FixedClock, twilio: FakeTwilio
) -> None:
    svc = build_service(db_url, tmp_path, clock, {"sms_twilio": table(twilio)}, citizen=["sms_twilio", "file"])
    twilio.errors = [TwilioError(400, 21610, "Attempt to send to unsubscribed recipient")]
    received_dossier(svc, "A")
    assert (await svc.dispatcher.drain()).sent == 1
    [n] = notes(svc)
    assert (n.status, n.channel) == ("sent", "file")
    assert [a.outcome for a in attempts(svc)] == ["permanent", "sent"]
    assert opted_out(svc, "+84912345678", "sms")
    # the next message to that number does not ask Twilio at all
    received_dossier(svc, "B")
    await svc.dispatcher.drain()
    await svc.channels.aclose()
    assert [n.channel for n in notes(svc)] == ["file", "file"]
    assert len(twilio.created) == 1


async def test_rate_limited_by_twilio_retries_later(
    db_url: str, tmp_path: Path, clock: FixedClock, twilio: FakeTwilio
) -> None:
    svc = build_service(db_url, tmp_path, clock, {"sms_twilio": table(twilio)}, citizen=["sms_twilio", "file"])
    twilio.errors = [TwilioError(429, 20429, "Too Many Requests")]
    received_dossier(svc)
    assert (await svc.dispatcher.drain()).retried == 1
    [n] = notes(svc)
    assert (n.status, n.attempts) == ("queued", 1) and "20429" in (n.error or "")
    clock.advance(timedelta(seconds=60))
    assert (await svc.dispatcher.drain()).sent == 1
    await svc.channels.aclose()
    [n] = notes(svc)
    assert (n.status, n.channel, n.attempts) == ("sent", "sms_twilio", 2)
