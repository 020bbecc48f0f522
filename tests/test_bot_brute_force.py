"""Guessing one dossier's digits from many chats, taking over a citizen's chat, and feedback spam (issue 11)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from notifier.outbox.links import telegram_chat_ids
from notifier.rules.clock import FixedClock
from notifier.rules.lookup import Throttle
from notifier.store.models import ChatLink, Notification
from notifier.workflows.feedback import FeedbackLimited, FeedbackLimits
from tests.fakes.bot_harness import CHAT, D1, D3, OTHER, Harness, queue_notice, start_harness, stop_harness

NEUTRAL = "Không tìm thấy hồ sơ khớp với mã hồ sơ và 4 số cuối điện thoại đã gửi."
SLOWED = "tra cứu không thành công nhiều lần"
ATTACKERS = [7001 + i for i in range(6)]


@pytest.fixture
async def tg(db_url: str, tmp_path: Path, clock: FixedClock) -> AsyncIterator[Harness]:
    h, _ = await start_harness(
        db_url, tmp_path, clock,
        bot={
            "failed_lookup_limit": 3, "failed_lookup_window_seconds": 3600, "slowdown_seconds": 300,
            "code_failed_lookup_limit": 4, "code_failed_lookup_window_seconds": 86400,
            "code_slowdown_seconds": 3600, "feedback_per_chat": 2, "feedback_per_dossier": 3,
        },
    )  # fmt: skip
    try:
        yield h
    finally:
        await stop_harness(h)


async def test_guesses_spread_over_many_chats_slow_the_code_down(tg: Harness) -> None:
    await tg.contact(CHAT, "84912345678", contact_user_id=CHAT)  # the applicant's own chat
    # Each chat stays under its own limit of 3; together they pass the code's limit of 4.
    for chat, guess in zip(ATTACKERS, ("0000", "1111", "2222", "3333"), strict=False):
        assert (await tg.say(chat, f"{D1.lower()} {guess}"))["text"].startswith(NEUTRAL)
    right = await tg.say(ATTACKERS[4], f"{D1} 5678")  # a fresh chat with the right digits
    assert SLOWED in right["text"] and "Đang xử lý" not in right["text"]
    # The code answers its linked chat all the same, and other codes are not affected.
    assert "Đang xử lý" in (await tg.say(CHAT, f"/tracuu {D1}"))["text"]
    assert "Hồ sơ đã quá hạn" in (await tg.say(ATTACKERS[5], f"{D3} 4321"))["text"]
    tg.clock.advance(timedelta(hours=1, seconds=1))  # the code's cool-down is over: one more try
    assert "Đang xử lý" in (await tg.say(ATTACKERS[4], f"{D1} 5678"))["text"]


async def test_a_new_link_waits_for_the_linked_chat_to_agree(tg: Harness) -> None:
    await tg.contact(CHAT, "84912345678", contact_user_id=CHAT)
    reply = await tg.say(OTHER, f"{D1} 5678")  # the digits are right: a relative, or a lucky guess
    data = reply["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    before = len(tg.fake.sent(CHAT))
    pending = await tg.press(OTHER, data)
    assert "đã được một tài khoản khác đăng ký" in pending["text"] and "qua Telegram này" in pending["text"]
    [asked] = (await tg.fake.wait_sent(CHAT, before + 1))[before:]
    assert D1 in asked["text"] and "Đồng ý" in str(asked["reply_markup"])
    assert asked["text"].startswith("Một tài khoản Telegram khác vừa tra cứu")  # the asking chat's platform
    # Nothing changed for the notices: the applicant's chat still gets them, the new one does not.
    notice = queue_notice(tg.service, D1)
    with tg.service.factory() as session:
        n = session.get(Notification, notice)
        assert n is not None
        assert telegram_chat_ids(session, [n]) == {notice: str(CHAT)}
        assert session.scalar(select(ChatLink.active).where(ChatLink.chat_id == str(OTHER))) is False
    confirm = asked["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    assert (await tg.press(OTHER, confirm))["text"].startswith("Thao tác này không còn hiệu lực")  # not theirs
    agreed = await tg.press(CHAT, confirm)
    assert agreed["text"].startswith("Đã đồng ý. Tài khoản Telegram kia")
    told = await tg.fake.wait_sent(OTHER, len(tg.fake.sent(OTHER)))
    assert told[-1]["text"].startswith(f"Đã đăng ký nhận thông báo về hồ sơ {D1}")
    with tg.service.factory() as session:
        assert session.scalar(select(ChatLink.active).where(ChatLink.chat_id == str(OTHER))) is True


async def test_a_dossier_nobody_receives_links_at_once(tg: Harness) -> None:
    reply = await tg.say(OTHER, f"{D3} 4321")
    data = reply["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    ok = await tg.press(OTHER, data)
    assert ok["text"].startswith(f"Đã đăng ký nhận thông báo về hồ sơ {D3}")


async def test_feedback_is_limited_per_chat_and_per_dossier(tg: Harness) -> None:
    store = tg.runtime.deps.store
    d1 = tg.id_of(D1)
    now = tg.clock.now()
    common = {"default_agency": None, "working_days": 10, "day_end": tg.service.settings.working_hours.end}
    assert store.feedback_limits == FeedbackLimits(2, 3, timedelta(days=1))

    def send(chat: int, dossier_id: int | None) -> None:
        store.submit_feedback(str(chat), str(chat), dossier_id, "Hồ sơ chậm quá, đề nghị xem xét.", now, **common)

    send(8001, d1)
    send(8001, None)
    with pytest.raises(FeedbackLimited) as per_chat:
        send(8001, None)
    assert per_chat.value.field == "chat_id" and per_chat.value.retry_at == now + timedelta(days=1)
    send(8002, d1)
    send(8003, d1)
    with pytest.raises(FeedbackLimited) as per_dossier:
        send(8004, d1)  # a fresh chat, but the dossier had three already
    assert per_dossier.value.field == "MaHoSo"
    send(8004, None)  # the same chat about nothing in particular is still heard


def test_the_code_rule_is_the_longer_wait() -> None:
    from notifier.rules.lookup import slowed_until
    from tests.conftest import T0

    chat = Throttle(3, timedelta(hours=1), timedelta(minutes=5))
    code = Throttle(4, timedelta(days=1), timedelta(hours=1))
    assert slowed_until(chat, (0, None), code, (3, T0), T0) is None
    assert slowed_until(chat, (0, None), code, (4, T0), T0) == T0 + timedelta(hours=1)
    assert slowed_until(chat, (3, T0), code, (4, T0), T0) == T0 + timedelta(hours=1)
    assert slowed_until(chat, (3, T0), code, (0, None), T0) == T0 + timedelta(minutes=5)


async def test_a_number_moving_to_another_account_tells_the_old_chat(tg: Harness) -> None:
    await tg.contact(CHAT, "0912345678", contact_user_id=CHAT)
    before = len(tg.fake.sent(CHAT))
    await tg.contact(OTHER, "0912345678", contact_user_id=OTHER)  # Telegram verified it is OTHER's now
    [told] = (await tg.fake.wait_sent(CHAT, before + 1))[before:]
    assert "091****678" in told["text"] and "tài khoản Telegram khác" in told["text"]
