"""A linked chat becomes the citizen's Telegram address for the dispatcher; /huy and /batdau steer it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select

from notifier.rules.clock import FixedClock
from notifier.store.models import Contact, Notification
from tests.fakes.bot_harness import (
    CHAT,
    D1,
    D2,
    D3,
    OTHER,
    ChatRecorder,
    Harness,
    queue_notice,
    start_harness,
    stop_harness,
)


@pytest.fixture
async def tgn(db_url: str, tmp_path: Path, clock: FixedClock) -> AsyncIterator[tuple[Harness, ChatRecorder]]:
    h, _ = await start_harness(db_url, tmp_path, clock, routing={"citizen": ["tgchat", "file"]})
    recorder = ChatRecorder(clock)
    h.service.channels.put("tgchat", recorder)
    try:
        yield h, recorder
    finally:
        await stop_harness(h)


def _row(h: Harness, notification_id: int) -> Notification:
    with h.service.factory() as session:
        row = session.get(Notification, notification_id)
    assert row is not None
    return row


async def _send(h: Harness, code: str) -> Notification:
    nid = queue_notice(h.service, code, "result_ready")
    h.clock.advance(timedelta(seconds=1))  # distinct dedupe keys for repeated notices
    await h.service.dispatcher.drain()
    return _row(h, nid)


async def test_citizen_notices_go_to_the_linked_chat(tgn: tuple[Harness, ChatRecorder]) -> None:
    h, recorder = tgn
    unlinked = await _send(h, D1)
    assert unlinked.channel == "file" and unlinked.recipient == "+84912345678"
    await h.contact(CHAT, "0912345678", contact_user_id=CHAT)

    row = await _send(h, D1)
    assert (row.status, row.channel, row.recipient) == ("sent", "tgchat", str(CHAT))
    [message] = recorder.received
    assert message.address == str(CHAT) and D1 in message.text and message.kind == "result_ready"
    # Another phone's dossier still goes by the other route.
    other = await _send(h, D3)
    assert (other.channel, other.recipient) == ("file", "+84987654321")


async def test_huy_stops_telegram_and_batdau_resumes(tgn: tuple[Harness, ChatRecorder]) -> None:
    h, recorder = tgn
    await h.contact(CHAT, "0912345678", contact_user_id=CHAT)
    stopped = await h.say(CHAT, "Hủy nhận tin")
    assert stopped["text"].startswith("Đã dừng gửi thông báo hồ sơ qua Telegram.")
    with h.service.factory() as session:
        contact = session.scalar(
            select(Contact).where(Contact.address == str(CHAT), Contact.medium == "telegram")
        )
    assert contact is not None and contact.opted_out_at == h.clock.now() and contact.reason == "/huy"

    row = await _send(h, D2)
    assert (row.channel, row.recipient) == ("file", "+84912345678")  # SMS-like fallback, not Telegram
    assert recorder.received == []
    listed = await h.say(CHAT, "/hoso")
    assert "đang tạm dừng nhận thông báo qua Telegram" in listed["text"]

    resumed = await h.say(CHAT, "/batdau")
    assert resumed["text"].startswith("Đã bật lại thông báo hồ sơ qua Telegram.")
    row = await _send(h, D2)
    assert (row.channel, row.recipient) == ("tgchat", str(CHAT))


async def test_newest_consent_wins_and_a_stopped_chat_is_passed_over(
    tgn: tuple[Harness, ChatRecorder],
) -> None:
    h, recorder = tgn
    await h.contact(CHAT, "0912345678", contact_user_id=CHAT)
    h.clock.advance(timedelta(minutes=5))
    # A family member proves the digits and subscribes to D1 later.
    reply = await h.say(OTHER, f"{D1} 5678")
    await h.press(OTHER, reply["reply_markup"]["inline_keyboard"][0][0]["callback_data"])
    # CHAT already receives D1, so the new link waits for CHAT to agree (i11c: a link never displaces).
    assert (await _send(h, D1)).recipient == str(CHAT)
    [ask] = [m for m in h.fake.sent(CHAT) if "Đồng ý" in str(m.get("reply_markup"))]
    await h.press(CHAT, ask["reply_markup"]["inline_keyboard"][0][0]["callback_data"])
    assert (await _send(h, D1)).recipient == str(OTHER)
    assert (await _send(h, D2)).recipient == str(CHAT)  # OTHER subscribed to D1 only
    await h.say(OTHER, "/huy")
    assert (await _send(h, D1)).recipient == str(CHAT)
    assert [m.address for m in recorder.received] == [str(CHAT), str(OTHER), str(CHAT), str(CHAT)]


async def test_chat_links_are_read_once_per_batch(tgn: tuple[Harness, ChatRecorder]) -> None:
    h, recorder = tgn
    await h.contact(CHAT, "0912345678", contact_user_id=CHAT)
    for i in range(30):
        queue_notice(h.service, (D1, D2, D3)[i % 3], "result_ready", dedupe_key=f"batch:{i}")
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "chat_links" in statement:
            statements.append(statement)

    event.listen(h.service.engine, "before_cursor_execute", count)
    try:
        stats = await h.service.dispatcher.run_once()
    finally:
        event.remove(h.service.engine, "before_cursor_execute", count)
    assert stats.sent == 30
    assert len(statements) == 1
    assert len(recorder.received) == 20  # D1 and D2 belong to the linked phone, D3 does not


async def test_the_telegram_channel_delivers_to_the_linked_chat_end_to_end(
    db_url: str, tmp_path: Path, clock: FixedClock
) -> None:
    # The real Telegram sending channel (notifier.channels.telegram) talks to the same fake Bot API.
    h, fake = await start_harness(db_url, tmp_path, clock, routing={"citizen": ["telegram", "file"]})
    try:
        await h.contact(CHAT, "0912345678", contact_user_id=CHAT)
        before = len(fake.sent(CHAT))
        row = await _send(h, D1)
        assert (row.status, row.channel, row.recipient) == ("sent", "telegram", str(CHAT)), row.error
        [notice] = fake.sent(CHAT)[before:]
        assert D1 in notice["text"]
        await h.say(CHAT, "/huy")
        row = await _send(h, D1)
        assert (row.channel, row.recipient) == ("file", "+84912345678")
        assert len(fake.sent(CHAT)) == before + 2  # the notice and the /huy reply, nothing after
    finally:
        await stop_harness(h)
