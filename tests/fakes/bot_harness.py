"""The chatbot under test: a real service (SQLite or PostgreSQL), the real aiogram dispatcher polling the
fake Bot API server, and Hai Phong dossiers to ask about. Import the `tg` fixture into a test module."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest
from sqlalchemy import select

from notifier.bot.runner import BotRuntime
from notifier.channels.base import BaseChannel, ChannelSettings, Message, Recipient
from notifier.rules.clock import FixedClock
from notifier.store.models import Dossier, Notification
from notifier.workflows.ingest import upsert
from notifier.workflows.officer_import import upsert_officers
from notifier.workflows.service import Service
from tests.conftest import make_settings
from tests.factories import dossier, officers, ts
from tests.fakes.telegram_bot_api import TOKEN, FakeBotAPI

D1 = "000.00.30.H26-261120-0001"  # 0912345678, in progress, due Fri 04/12
D2 = "000.00.30.H26-261120-0002"  # 0912345678, waiting for an unpaid fee
D3 = "000.00.30.H26-261120-0003"  # 0987654321, overdue since Wed 25/11
CHAT = 5001  # the applicant of D1 and D2
OTHER = 5002  # somebody else
PAY_LINK = "https://dichvucong.gov.vn/p/thanh-toan?ma=000.00.30.H26-261120-0002"


def seed(service: Service) -> None:
    now = service.clock.now()
    with service.factory() as session, session.begin():
        report = upsert_officers(session, officers())
        assert not report.errors, report.errors
        report = upsert(
            session,
            [
                dossier(D1),
                dossier(
                    D2,
                    TrangThaiHoSo=6,
                    DaThanhToan=0,
                    DuongDanThanhToan=PAY_LINK,
                    TenTTHC="Cấp giấy phép xây dựng",
                ),
                dossier(D3, SoDienThoai="0987654321", NgayHenTra=ts(2026, 11, 25, 17, 0), MaCanBo="CB02"),
            ],
            now,
            source="test",
        )
        assert not report.errors, report.errors


def dossier_id(service: Service, code: str) -> int:
    with service.factory() as session:
        found = session.scalar(select(Dossier.id).where(Dossier.code == code))
    assert found is not None
    return found


def queue_notice(service: Service, code: str, kind: str = "result_ready", **values: Any) -> int:
    now = service.clock.now()
    with service.factory() as session, session.begin():
        n = Notification(
            dedupe_key=f"test:{kind}:{code}:{now.isoformat()}:{values.get('status', 'queued')}",
            kind=kind,
            audience="citizen",
            dossier_id=dossier_id(service, code),
            ref_at=now,
            status="queued",
            not_before=now,
            attempts=0,
            created_at=now,
            updated_at=now,
        )
        for key, value in values.items():
            setattr(n, key, value)
        session.add(n)
        session.flush()
        return n.id


class ChatSettings(ChannelSettings):
    template: str = "chat"


class ChatRecorder(BaseChannel):
    """A chat channel that reaches citizens by their Telegram chat id and remembers what it sent."""

    name: ClassVar[str] = "chat_recorder"
    medium: ClassVar[str] = "telegram"
    settings_model: ClassVar[type[ChannelSettings]] = ChatSettings

    def __init__(self, clock: FixedClock) -> None:
        super().__init__(ChatSettings(), clock, "chat_recorder")
        self.received: list[Message] = []

    def address_for(self, recipient: Recipient) -> str | None:
        return recipient.telegram_chat_id

    async def send(self, message: Message) -> str:
        self.received.append(message)
        return f"chat-{len(self.received)}"


@dataclass
class Harness:
    fake: FakeBotAPI
    runtime: BotRuntime
    service: Service
    clock: FixedClock

    async def say(self, chat_id: int, text: str, **kwargs: Any) -> dict[str, Any]:
        return await self.fake.say(chat_id, text, **kwargs)

    async def contact(self, chat_id: int, phone: str, contact_user_id: int | None) -> dict[str, Any]:
        return await self.fake.answer_to(
            lambda: self.fake.contact(chat_id, phone, contact_user_id=contact_user_id), chat_id
        )

    async def press(self, chat_id: int, data: str) -> dict[str, Any]:
        return await self.fake.answer_to(lambda: self.fake.callback(chat_id, data), chat_id)

    def id_of(self, code: str) -> int:
        return dossier_id(self.service, code)


async def start_harness(
    db_url: str, tmp_path: Path, clock: FixedClock, *, storage: Any = None, **overrides: Any
) -> tuple[Harness, FakeBotAPI]:
    fake = FakeBotAPI()
    await fake.start()
    channels = {"telegram": {"token": TOKEN, "base_url": fake.base_url}, **overrides.pop("channels", {})}
    settings = make_settings(db_url, tmp_path, channels=channels, **overrides)
    service = Service.build(settings, clock)
    service.migrate()
    seed(service)
    runtime = BotRuntime.build(service, storage=storage, texts_ttl=0)
    await runtime.start_polling(polling_timeout=1)
    return Harness(fake, runtime, service, clock), fake


async def stop_harness(h: Harness) -> None:
    await h.runtime.stop()
    await h.fake.stop()
    await h.service.aclose()


@pytest.fixture
async def tg(db_url: str, tmp_path: Path, clock: FixedClock) -> AsyncIterator[Harness]:
    h, _ = await start_harness(
        db_url,
        tmp_path,
        clock,
        bot={"failed_lookup_limit": 3, "failed_lookup_window_seconds": 3600, "slowdown_seconds": 300},
    )
    try:
        yield h
    finally:
        await stop_harness(h)


def at(*parts: int) -> datetime:
    from notifier.rules.clock import VN_TZ

    return datetime(*parts, tzinfo=VN_TZ)  # type: ignore[misc]
