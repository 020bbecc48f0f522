"""telegram: aiogram's Bot against a loopback fake of the Bot API."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from notifier.channels.base import Message, PermanentError, TransientError
from notifier.channels.registry import ChannelConfigError, build
from notifier.outbox.dispatch import Dispatcher
from notifier.rules.clock import FixedClock
from notifier.store.limits import SharedRateLimits
from notifier.workflows.ingest import upsert
from notifier.workflows.officer_import import upsert_officers
from notifier.workflows.service import Service
from tests.factories import dossier, officers, ts
from tests.fakes.helpers import attempts, notes, opted_out
from tests.fakes.helpers import build as build_service
from tests.fakes.telegram import FakeTelegram

CHAT = "987654321"


@pytest.fixture
async def telegram(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeTelegram]:
    fake = FakeTelegram()
    await fake.start()
    monkeypatch.setenv("TEST_TG_TOKEN", fake.token)
    yield fake
    await fake.stop()


def table(fake: FakeTelegram, **extra: Any) -> dict[str, Any]:
    return {"token_env": "TEST_TG_TOKEN", "base_url": fake.url, **extra}


def message(text: str = "Hồ sơ X quá hạn 1 ngày làm việc.", **kw: Any) -> Message:
    return Message(5, "overdue_alert", "officer", CHAT, text, **kw)


async def send(fake: FakeTelegram, clock: FixedClock, msg: Message) -> str:
    channel = build("telegram", table(fake), clock)
    try:
        return await channel.send(msg)
    finally:
        await channel.aclose()


async def test_plain_text_with_inline_keyboard_reaches_the_chat(telegram: FakeTelegram, clock: FixedClock) -> None:
    buttons = (("Đã xử lý", "done:5"), ("Mở hồ sơ", "https://dichvucong.example.gov.vn/hs/5"))
    provider_id = await send(telegram, clock, message(buttons=buttons))
    [got] = telegram.received
    assert got["chat_id"] == CHAT
    assert got["text"] == "Hồ sơ X quá hạn 1 ngày làm việc."
    assert "parse_mode" not in got  # templates are plain text, never Markdown/HTML
    assert got["reply_markup"] == {
        "inline_keyboard": [
            [{"text": "Đã xử lý", "callback_data": "done:5"}],
            [{"text": "Mở hồ sơ", "url": "https://dichvucong.example.gov.vn/hs/5"}],
        ]
    }
    assert provider_id == f"{CHAT}:1"


async def test_no_keyboard_without_buttons(telegram: FakeTelegram, clock: FixedClock) -> None:
    await send(telegram, clock, message())
    assert "reply_markup" not in telegram.received[0]


@pytest.mark.parametrize(
    ("step", "kind", "fallback", "opt_out"),
    [
        ((403, "Forbidden: bot was blocked by the user", {}), PermanentError, True, True),
        ((400, "Bad Request: chat not found", {}), PermanentError, True, False),
        ((400, "Bad Request: message text is empty", {}), PermanentError, False, False),
        ((502, "Bad Gateway", {}), TransientError, None, None),
        ((401, "Unauthorized", {}), TransientError, None, None),
    ],
)
async def test_bot_api_errors_map_to_transient_or_permanent(
    telegram: FakeTelegram, clock: FixedClock, step: tuple, kind: type, fallback: bool, opt_out: bool
) -> None:
    telegram.script = [step]
    with pytest.raises(kind) as info:
        await send(telegram, clock, message())
    assert step[1] in str(info.value)
    if kind is PermanentError:
        assert (info.value.fallback, info.value.opt_out) == (fallback, opt_out)


async def test_retry_after_is_honoured(telegram: FakeTelegram, clock: FixedClock) -> None:
    telegram.script = [(429, "Too Many Requests: retry after 17", {"retry_after": 17})]
    with pytest.raises(TransientError) as info:
        await send(telegram, clock, message())
    assert info.value.retry_after == 17


async def test_a_migrated_group_gets_the_message_at_its_new_id(telegram: FakeTelegram, clock: FixedClock) -> None:
    telegram.script = [(400, "Bad Request: group chat was upgraded", {"migrate_to_chat_id": -1001234})]
    provider_id = await send(telegram, clock, message())
    assert [r["chat_id"] for r in telegram.received] == [CHAT, "-1001234"]
    assert provider_id == "-1001234:2"


def test_a_token_is_required(clock: FixedClock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    with pytest.raises(ChannelConfigError, match="environment variable 'TELEGRAM_BOT_TOKEN' is not set"):
        build("telegram", {}, clock)
    with pytest.raises(ChannelConfigError, match="field token: value 'abc'"):
        build("telegram", {"token": "abc"}, clock)


# -- through the dispatcher ---------------------------------------------------------------------------------


def _officers_on_telegram(svc: Service) -> None:
    rows = officers()
    rows[0]["TelegramChatId"] = CHAT
    with svc.factory() as session, session.begin():
        upsert_officers(session, rows)


def _overdue(svc: Service, *codes: str) -> None:
    items = [dossier(code, MaCanBo="CB01", NgayHenTra=ts(2026, 11, 30, 17, 0)) for code in codes]
    with svc.factory() as session, session.begin():
        assert not upsert(session, items, svc.clock.now(), source="test").errors
    svc.scan()


async def test_blocked_chat_falls_back_and_telegram_is_not_tried_again(
    db_url: str, tmp_path: Path, clock: FixedClock, telegram: FakeTelegram
) -> None:
    # Not Telegram's one message a second per chat: the second message of a batch to the chat (the alert
    # and the officer's digest go together) waited a real second, which says nothing about the fallback
    # (test_second_message_to_one_chat_waits_for_the_per_chat_limit checks the limit).
    fast = table(telegram, per_recipient_per_second=1000.0)
    svc = build_service(db_url, tmp_path, clock, {"telegram": fast}, citizen=["file"],
                        officer=["telegram", "file"])  # fmt: skip
    _officers_on_telegram(svc)
    telegram.blocked = {CHAT}
    _overdue(svc, "A")
    await svc.dispatcher.drain()
    alert = next(n for n in notes(svc) if n.kind == "overdue_alert")
    assert (alert.status, alert.channel) == ("sent", "file")
    assert opted_out(svc, CHAT, "telegram")
    assert [(a.channel, a.outcome) for a in attempts(svc) if a.notification_id == alert.id] == [
        ("telegram", "permanent"),
        ("file", "sent"),
    ]
    tried = len(telegram.received)  # the alert (and any digest in the same batch)
    _overdue(svc, "B")
    await svc.dispatcher.drain()
    await svc.channels.aclose()
    assert len(telegram.received) == tried  # the next alert went straight to the next channel
    assert [n.channel for n in notes(svc) if n.kind == "overdue_alert"] == ["file", "file"]


async def test_second_message_to_one_chat_waits_for_the_per_chat_limit(
    db_url: str, tmp_path: Path, clock: FixedClock, telegram: FakeTelegram
) -> None:
    limits = {"per_recipient_per_second": 1 / 120, "max_wait_seconds": 5}
    svc = build_service(db_url, tmp_path, clock, {"telegram": table(telegram, **limits)}, citizen=["file"],
                        officer=["telegram"])  # fmt: skip
    _officers_on_telegram(svc)
    _overdue(svc, "A", "B")
    await svc.dispatcher.drain(max_batches=1)
    alerts = [n for n in notes(svc) if n.kind == "overdue_alert"]
    assert len(telegram.received) == 1
    sent = [n for n in alerts if n.status == "sent"]
    waiting = [n for n in alerts if n.status == "queued"]
    assert len(sent) == 1 and len(waiting) == 1
    # back in the queue for the rest of the two minutes, with no attempt spent
    assert waiting[0].attempts == 0
    wait = waiting[0].not_before - clock.now()
    assert timedelta(seconds=110) < wait <= timedelta(seconds=120)
    clock.advance(wait)
    # the next run, two minutes later (another worker, sharing the per-chat bucket in the database) sends it
    two_minutes_on = SharedRateLimits(svc.factory, wall=lambda: time.time() + wait.total_seconds())
    later = Dispatcher(svc.factory, svc.settings, clock, svc.channels, svc.calendar, limits=two_minutes_on)
    assert (await later.drain()).sent == 1
    await svc.channels.aclose()
    assert len(telegram.received) == 2
