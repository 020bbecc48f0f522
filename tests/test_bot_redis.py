"""FSM state in the real Redis on 127.0.0.1:6379: a feedback form begun in one process is finished in
another. Keys get a unique prefix and are deleted afterwards."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from sqlalchemy import select

from notifier.bot.runner import BotRuntime, build_storage
from notifier.rules.clock import FixedClock
from notifier.store.models import Feedback
from tests.fakes.bot_harness import OTHER, start_harness, stop_harness

REDIS_URL = "redis://127.0.0.1:6379/0"
TEXT = "Đề nghị cho biết vì sao hồ sơ của tôi chưa được tiếp nhận sau ba ngày."


@pytest.fixture
async def redis_prefix() -> AsyncIterator[tuple[aioredis.Redis, str]]:
    client = aioredis.from_url(REDIS_URL)
    try:
        await client.ping()
    except Exception as exc:  # never skip quietly: this is the multi-process storage
        await client.aclose()
        pytest.fail(f"Redis at {REDIS_URL} is not reachable ({exc}); the machine starts it on 127.0.0.1:6379")
    prefix = f"notifier-test-{uuid.uuid4().hex[:12]}"
    try:
        yield client, prefix
    finally:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


async def test_a_form_started_in_one_process_is_finished_in_another(
    db_url: str, tmp_path: Path, clock: FixedClock, redis_prefix: tuple[aioredis.Redis, str]
) -> None:
    client, prefix = redis_prefix
    h, fake = await start_harness(db_url, tmp_path, clock, storage=build_storage(REDIS_URL, prefix))
    try:
        await h.say(OTHER, "/phananh")
        ask = await h.press(OTHER, "fb:none")
        assert ask["text"].startswith("Vui lòng nhập nội dung phản ánh")
        keys = [key.decode() async for key in client.scan_iter(match=f"{prefix}:*")]
        states = [await client.get(k) for k in keys if k.endswith(":state")]
        assert states == [b"FeedbackForm:text"]
        # The first process stops once Telegram (the fake) has no unconfirmed update left for it.
        await fake.wait_for(lambda: fake.pending == 0)
        await h.runtime.stop()

        second = BotRuntime.build(h.service, storage=build_storage(REDIS_URL, prefix), texts_ttl=0)
        await second.start_polling(polling_timeout=1)
        h.runtime = second
        sent = await h.say(OTHER, TEXT)
        assert sent["text"].startswith("Đã nhận phản ánh, kiến nghị số ")
        with h.service.factory() as session:
            [row] = session.scalars(select(Feedback)).all()
        assert row.text == TEXT and row.chat_id == str(OTHER)
        states = [await client.get(k) async for k in client.scan_iter(match=f"{prefix}:*:state")]
        assert all(not s for s in states)  # the form is over
    finally:
        await stop_harness(h)
