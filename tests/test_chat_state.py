"""The conversation's form step lives in the database (chat_states): a Zalo conversation started by one
process is finished by another, a step left past [bot] chat_state_ttl_seconds expires, and the chat's
language is read with the step in one statement."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from aiogram.fsm.context import FSMContext
from aiogram.fsm.storage.base import StorageKey
from aiogram.fsm.storage.memory import MemoryStorage
from sqlalchemy import func, select

from notifier.bot.adapter import FsmState
from notifier.rules.clock import FixedClock
from notifier.store import chat_states
from notifier.store.models import ChatFormState, ChatPreference, Feedback
from notifier.workflows.privacy import PrivacyWorkflow
from notifier.workflows.service import Service
from notifier.workflows.zalo_oa import ZaloOaInbox
from tests.chat_drivers import ZaloDriver
from tests.fakes.bot_harness import CHAT

TEXT = "Tôi nộp hồ sơ đã hơn mười ngày mà chưa thấy cán bộ liên hệ, đề nghị kiểm tra giúp."


@pytest.fixture
async def zalo(db_url: str, tmp_path: Path, clock: FixedClock) -> AsyncIterator[ZaloDriver]:
    driver = await ZaloDriver.start(db_url, tmp_path, clock, bot={"chat_state_ttl_seconds": 3600})
    try:
        yield driver
    finally:
        await driver.stop()


def _feedback(service: Service) -> int:
    with service.factory() as session:
        return int(session.scalar(select(func.count()).select_from(Feedback)) or 0)


async def test_a_form_started_in_one_process_is_finished_in_another(zalo: ZaloDriver, clock: FixedClock) -> None:
    await zalo.send_text(CHAT, "/phananh")
    [ask] = await zalo.press(CHAT, "Không gắn với hồ sơ")
    assert "Vui lòng nhập nội dung phản ánh" in ask.text
    # Another worker process: its own Service (engine, sessions) and inbox, the same database.
    other = Service.build(zalo.service.settings, clock)
    try:
        zalo.inbox = ZaloOaInbox(other, "zalo_oa")
        [sent] = await zalo.send_text(CHAT, TEXT)
    finally:
        await other.aclose()
    assert "số " in sent.text and _feedback(zalo.service) == 1
    with zalo.service.factory() as session:
        assert session.scalar(select(func.count()).select_from(ChatFormState)) == 0  # the form is over


async def test_a_form_left_past_its_expiry_is_forgotten(zalo: ZaloDriver, clock: FixedClock) -> None:
    await zalo.send_text(CHAT, "/phananh")
    await zalo.press(CHAT, "Không gắn với hồ sơ")
    clock.advance(timedelta(seconds=3599))
    [still] = await zalo.send_text(CHAT, "chậm quá")  # too short: the form answers, so it is still open
    assert still.text.startswith("Nội dung phản ánh, kiến nghị cần dài từ 10 đến 2000 ký tự.")
    clock.advance(timedelta(seconds=3601))  # the short text wrote no step: an hour from the press is over
    await zalo.send_text(CHAT, TEXT)
    assert _feedback(zalo.service) == 0  # read as anything but the form's text


def test_load_reads_step_data_and_language_together(service: Service, clock: FixedClock) -> None:
    now = clock.now()
    with service.factory() as session, session.begin():
        assert chat_states.load(session, "zalo_oa", "zalo_oa:1", now) == (None, {}, None)
        chat_states.save(session, "zalo_oa", "zalo_oa:1", "FeedbackForm:text", {"dossier_id": 7}, now,
                         timedelta(minutes=5))  # fmt: skip
        session.add(ChatPreference(chat_id="zalo_oa:1", language="en", updated_at=now))
    with service.factory() as session, session.begin():
        got = chat_states.load(session, "zalo_oa", "zalo_oa:1", now)
        # the same key on another platform is another conversation
        other = chat_states.load(session, "sms", "zalo_oa:1", now)
        later = chat_states.load(session, "zalo_oa", "zalo_oa:1", now + timedelta(minutes=5))
        assert chat_states.purge_expired(session, now + timedelta(minutes=4)) == 0
        assert chat_states.purge_expired(session, now + timedelta(minutes=5)) == 1
    assert got == ("FeedbackForm:text", {"dossier_id": 7}, "en")
    assert other == (None, {}, "en")
    assert later == (None, {}, "en")
    with service.factory() as session, session.begin():
        chat_states.save(session, "zalo_oa", "zalo_oa:1", "X", None, now, timedelta(minutes=5))
        chat_states.save(session, "zalo_oa", "zalo_oa:1", None, None, now, timedelta(minutes=5))
    with service.factory() as session:
        assert session.scalar(select(func.count()).select_from(ChatFormState)) == 0  # no step, no row


async def test_telegram_keeps_the_language_beside_its_step_and_reads_it_again_later(clock: FixedClock) -> None:
    state = FsmState(FSMContext(MemoryStorage(), StorageKey(bot_id=1, chat_id=5, user_id=5)), clock)
    assert await state.chosen_language() == (False, None)  # the core reads it from the database
    await state.remember_language("en")
    await state.set("FeedbackForm:text", {"dossier_id": 1})
    assert await state.get() == ("FeedbackForm:text", {"dossier_id": 1})  # the cache is not form data
    await state.set(None)
    assert await state.get() == (None, {})
    assert await state.chosen_language() == (True, "en")  # kept when the form ends
    await state.remember_language(None)
    assert await state.chosen_language() == (True, None)  # "never chose" is cached too
    clock.advance(FsmState.LANGUAGE_TTL + timedelta(seconds=1))
    assert await state.chosen_language() == (False, None)  # an erasure elsewhere is seen in time


async def test_an_erasure_drops_the_chats_half_filled_forms(zalo: ZaloDriver, clock: FixedClock) -> None:
    await zalo.share_contact(CHAT, "0912345678")
    await zalo.send_text(CHAT, "/xoadulieu")  # the request; the officer carries it out later
    # Meanwhile the follower starts a feedback form and leaves it half-way.
    await zalo.send_text(CHAT, "/phananh")
    await zalo.press(CHAT, "Không gắn với hồ sơ")
    with zalo.service.factory() as session:
        assert session.scalar(select(func.count()).select_from(ChatFormState)) == 1
    _, erased = PrivacyWorkflow.of(zalo.service).done(1, "admin")
    assert erased["chat_states"] == 1
    with zalo.service.factory() as session:
        assert session.scalar(select(func.count()).select_from(ChatFormState)) == 0
