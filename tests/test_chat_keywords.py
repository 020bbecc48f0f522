"""HUY and DK are one flow whatever the platform: an SMS keyword, a Telegram command and a Zalo message all
reach the conversation core's stop and resume, and leave the same records (the opt-out the dispatcher
honours for that medium, its consent withdrawn and given again, the audit entries)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from notifier.rules.clock import FixedClock
from notifier.store.models import AuditEntry, ConsentRecord, Contact
from notifier.workflows.service import Service
from tests.chat_drivers import TelegramDriver, ZaloDriver
from tests.fakes.bot_harness import CHAT
from tests.test_webhooks import _service, client, fakes, inbound_form, post_twilio

__all__ = ["fakes"]  # the fixture, used by the SMS platform

Send = Callable[[str], Awaitable[str]]  # a keyword in, the reply's text out


@pytest.fixture(params=["sms", "telegram", "zalo_oa"])
async def platform(
    request: pytest.FixtureRequest, db_url: str, tmp_path: Path, clock: FixedClock, fakes: dict[str, Any]
) -> AsyncIterator[tuple[str, Service, Send, dict[str, str]]]:
    """(medium, service, send, keywords): `keywords` maps stop/resume to what a person types there."""
    if request.param == "sms":
        service = _service(db_url, tmp_path, clock, fakes, ["sms_twilio", "file"])
        sids = iter(range(1, 100))

        async def send_sms(text: str) -> str:
            async with client(service) as c:
                form = inbound_form(text, f"SM-k{next(sids)}")
                r = await post_twilio(c, "/webhooks/sms_twilio/inbound", form)
            assert r.status_code == 200
            return r.text

        yield "sms", service, send_sms, {"stop": "HUY", "resume": "DK"}
        await service.channels.aclose()
        service.engine.dispose()
        return
    driver_class: Any = TelegramDriver if request.param == "telegram" else ZaloDriver
    driver = await driver_class.start(db_url, tmp_path, clock)

    async def send_chat(text: str) -> str:
        return "\n".join(s.text for s in await driver.send_text(CHAT, text))

    try:
        yield request.param, driver.service, send_chat, {"stop": "/huy", "resume": "/batdau"}
    finally:
        await driver.stop()


def _effect(service: Service, medium: str) -> tuple[bool, bool, list[bool], list[str]]:
    """(opted out, consent given, each consent record still standing, audit actions) for the one contact."""
    with service.factory() as session:
        [contact] = session.scalars(select(Contact).where(Contact.medium == medium)).all()
        consents = session.scalars(
            select(ConsentRecord).where(ConsentRecord.medium == medium).order_by(ConsentRecord.id)
        ).all()
        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.action.like("bot.%")).order_by(AuditEntry.id)
        ).all()
    return (
        contact.opted_out_at is not None,
        contact.consent_at is not None,
        [c.withdrawn_at is None for c in consents],
        list(actions),
    )


async def test_stop_then_resume_leaves_the_same_records_on_every_platform(
    platform: tuple[str, Service, Send, dict[str, str]], clock: FixedClock
) -> None:
    medium, service, send, keywords = platform
    stopped = await send(keywords["stop"])
    assert stopped  # every platform confirms
    assert _effect(service, medium) == (True, False, [], ["bot.stop"])
    clock.advance(timedelta(minutes=5))
    resumed = await send(keywords["resume"])
    assert resumed and resumed != stopped
    assert _effect(service, medium) == (False, True, [True], ["bot.stop", "bot.resume"])
    # and a second stop withdraws the consent DK gave
    await send(keywords["stop"])
    assert _effect(service, medium) == (True, True, [False], ["bot.stop", "bot.resume", "bot.stop"])
