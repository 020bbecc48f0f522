"""The two buttons on an officer's overdue alert, through a real aiogram Dispatcher and a fake Bot API server
on 127.0.0.1; and the same actions over the HTTP API."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest
from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Update
from aiohttp import web
from fastapi.testclient import TestClient
from sqlalchemy import select

from notifier.bot.deps import BotDeps
from notifier.bot.officer import build_router
from notifier.channels.base import BaseChannel, ChannelSettings, Message, Recipient
from notifier.rules.clock import VN_TZ, FixedClock
from notifier.rules.officer_buttons import parse_callback
from notifier.store.apikeys import create_key
from notifier.store.models import ApologySlip, AuditEntry, Dossier, DossierEvent, Notification
from notifier.web.api import create_app
from notifier.workflows.conversation import Conversation
from notifier.workflows.ingest import upsert
from notifier.workflows.officer_import import upsert_officers
from notifier.workflows.service import Service
from tests.conftest import migrated_service
from tests.factories import dossier, officers, ts

CB01_CHAT = 555001
STRANGER = 777
BOT_ID = 123456
OTHER = "000.00.31.H26"


class CapturingChat(BaseChannel):
    """A chat channel that keeps what it was given (the real Telegram channel shows `buttons`)."""

    name: ClassVar[str] = "capture"
    medium: ClassVar[str] = "telegram"
    settings_model: ClassVar[type[ChannelSettings]] = ChannelSettings
    default_channel_type: ClassVar[str] = "chat"

    def __init__(self, clock: FixedClock) -> None:
        super().__init__(ChannelSettings(), clock, "capture")
        self.messages: list[Message] = []

    def address_for(self, recipient: Recipient) -> str | None:
        return recipient.telegram_chat_id or recipient.phone

    async def send(self, message: Message) -> str:
        self.messages.append(message)
        return f"tg-{len(self.messages)}"


@pytest.fixture
def svc(db_url: str, tmp_path: Path, clock: FixedClock) -> Iterator[Service]:
    s = migrated_service(db_url, tmp_path, clock, routing={"citizen": ["capture"], "officer": ["capture"], "head": ["capture"]})
    yield s
    s.engine.dispose()


def _seed(service: Service) -> dict[str, int]:
    staff = officers()
    staff[0]["TelegramChatId"] = str(CB01_CHAT)
    staff.append({"MaCanBo": "XD01", "HoTen": "Lê Văn Hải", "MaDonVi": OTHER, "TenDonVi": "Sở Xây dựng", "TelegramChatId": "555009"})
    items = [
        dossier("A", MaCanBo="CB01", NgayHenTra=ts(2026, 11, 30, 17, 0)),  # overdue since yesterday
        dossier("B", MaCanBo="CB01", NgayHenTra=ts(2026, 12, 2, 17, 0)),  # due tomorrow: time for Mẫu 04
        dossier("C", MaCanBo="CB01", NgayHenTra=ts(2026, 12, 3, 17, 0)),  # due soon
        dossier("P", MaCanBo="CB01", TrangThaiHoSo=5, NgayHenTra=ts(2026, 11, 30, 17, 0)),
    ]
    with service.factory() as session, session.begin():
        assert not upsert_officers(session, staff).errors
        assert not upsert(session, items, service.clock.now(), "test").errors
        return dict(session.execute(select(Dossier.code, Dossier.id)).all())


def test_overdue_alerts_carry_the_two_action_buttons(svc: Service, clock: FixedClock) -> None:
    ids = _seed(svc)
    chat = CapturingChat(clock)
    svc.channels.put("capture", chat)
    svc.scan()
    asyncio.run(svc.dispatcher.drain())
    by_kind = {(m.kind, m.address): m for m in chat.messages}
    alert = by_kind[("overdue_alert", str(CB01_CHAT))]
    assert alert.buttons == (("Lập Mẫu 04 (xin lỗi, gia hạn)", f"oa:n:{ids['A']}"), ("Đã xử lý xong", f"oa:r:{ids['A']}"))
    assert all(len(data.encode()) <= 64 for _, data in alert.buttons)  # Telegram's limit for callback data
    assert [parse_callback(data) for _, data in alert.buttons] == [("n", ids["A"]), ("r", ids["A"])]
    # B is due tomorrow: the prompt to issue Mẫu 04 before the date carries the same buttons.
    prompt = by_kind[("apology_due", str(CB01_CHAT))]
    assert prompt.buttons == (("Lập Mẫu 04 (xin lỗi, gia hạn)", f"oa:n:{ids['B']}"), ("Đã xử lý xong", f"oa:r:{ids['B']}"))
    others = [m for m in chat.messages if m.kind not in ("overdue_alert", "apology_due")]
    assert {m.kind for m in others} >= {"overdue_notice", "due_soon", "officer_digest"}
    assert all(m.buttons == () for m in others)


# ------------------------------------------------------------------------------------------- fake Bot API


@dataclass
class FakeTelegram:
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    next_id: int = 100

    def of(self, method: str) -> list[dict[str, Any]]:
        return [params for name, params in self.calls if name == method]

    async def handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = dict(await request.post())
        for key in ("reply_markup",):
            if key in params:
                params[key] = json.loads(str(params[key]))
        self.calls.append((method, params))
        if method in ("sendMessage", "editMessageText"):
            self.next_id += 1
            result: Any = {
                "message_id": int(params.get("message_id", self.next_id)),
                "date": 0,
                "chat": {"id": int(params.get("chat_id", 0)), "type": "private"},
                "from": {"id": BOT_ID, "is_bot": True, "first_name": "notifier"},
                "text": params.get("text", ""),
            }
        else:
            result = True
        return web.json_response({"ok": True, "result": result})


@pytest.fixture
async def telegram() -> AsyncIterator[tuple[FakeTelegram, str]]:
    fake = FakeTelegram()
    app = web.Application()
    app.router.add_post("/bot{token}/{method}", fake.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    yield fake, f"http://{host}:{port}"
    await runner.cleanup()


def _bot(base: str) -> Bot:
    return Bot(token=f"{BOT_ID}:TEST-token", session=AiohttpSession(api=TelegramAPIServer.from_base(base)))


def _press(data: str, user: int = CB01_CHAT, update_id: int = 1) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "callback_query": {
            "id": f"cb{update_id}",
            "from": {"id": user, "is_bot": False, "first_name": "Hà"},
            "chat_instance": "ci",
            "data": data,
            "message": {
                "message_id": 10,
                "date": 0,
                "chat": {"id": user, "type": "private"},
                "from": {"id": BOT_ID, "is_bot": True, "first_name": "notifier"},
                "text": "Cảnh báo hồ sơ quá hạn",
            },
        },
    }


def _reply(text: str, prompt: str, user: int = CB01_CHAT, update_id: int = 2) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": 50 + update_id,
            "date": 0,
            "chat": {"id": user, "type": "private"},
            "from": {"id": user, "is_bot": False, "first_name": "Hà"},
            "text": text,
            "reply_to_message": {
                "message_id": 40,
                "date": 0,
                "chat": {"id": user, "type": "private"},
                "from": {"id": BOT_ID, "is_bot": True, "first_name": "notifier"},
                "text": prompt,
            },
        },
    }


async def _feed(dp: Dispatcher, bot: Bot, update: dict[str, Any]) -> None:
    await dp.feed_update(bot, Update.model_validate(update, context={"bot": bot}))


async def test_new_date_button_asks_then_runs_the_apology_workflow(svc: Service, telegram: tuple[FakeTelegram, str]) -> None:
    ids = await asyncio.to_thread(_seed, svc)
    fake, base = telegram
    bot = _bot(base)
    dp = Dispatcher(service=svc)
    dp.include_router(build_router())
    try:
        await _feed(dp, bot, _press(f"oa:n:{ids['A']}"))
        assert [m for m, _ in fake.calls] == ["answerCallbackQuery", "sendMessage"]
        prompt = fake.of("sendMessage")[0]
        assert prompt["chat_id"] == str(CB01_CHAT)
        assert prompt["text"].startswith("Đặt ngày hẹn mới cho hồ sơ A\nTrả lời tin nhắn này theo mẫu: ngày hẹn mới; lý do chậm trễ")
        assert prompt["reply_markup"]["force_reply"] is True

        # A Saturday: refused in Vietnamese, and asked again.
        await _feed(dp, bot, _reply("12/12/2026; Chờ ý kiến Sở Tài nguyên", prompt["text"], update_id=2))
        refusal = fake.of("sendMessage")[-1]
        assert refusal["text"].startswith("Không thực hiện được: Ngày 12/12/2026 không phải ngày làm việc.\nĐặt ngày hẹn mới cho hồ sơ A")
        assert refusal["reply_markup"]["force_reply"] is True

        await _feed(dp, bot, _reply("10/12/2026; Chờ ý kiến Sở Tài nguyên", refusal["text"].split("\n", 1)[1], update_id=3))
        done = fake.of("sendMessage")[-1]
        assert done["text"] == (
            "Đã đặt ngày hẹn trả mới 10/12/2026 cho hồ sơ A. Văn bản xin lỗi và đề nghị gia hạn (Mẫu 04) số "
            "01/VBXL đã được lập; người nộp sẽ nhận văn bản và ngày hẹn mới."
        )
        # 10/12 is missed too: a second extension is recorded, and the reply says it is not compliant.
        svc.clock.set(datetime(2026, 12, 11, 9, 0, tzinfo=VN_TZ))
        await _feed(dp, bot, _reply("17/12/2026; Chờ ký duyệt", refusal["text"].split("\n", 1)[1], update_id=4))
        second = fake.of("sendMessage")[-1]["text"]
        assert "(Mẫu 04) số 02/VBXL đã được lập" in second
        assert second.endswith(
            "Lưu ý: đây là lần gia hạn thứ 2 của hồ sơ, KHÔNG ĐÚNG QUY ĐỊNH (chỉ được gia hạn một lần). "
            "Lần gia hạn này vẫn được ghi nhận và nêu trong báo cáo."
        )
    finally:
        await bot.session.close()

    def check() -> None:
        with svc.factory() as session:
            d = session.scalar(select(Dossier).where(Dossier.code == "A"))
            slip = session.scalar(select(ApologySlip).order_by(ApologySlip.id))
            assert d is not None and slip is not None
            assert d.due_at is not None and d.due_at.day == 17 and d.delay_reason == "Chờ ký duyệt"
            assert (slip.issued_by, slip.source, slip.number) == ("telegram:CB01", "telegram", "01/VBXL")

    await asyncio.to_thread(check)


async def test_resolved_button_confirms_then_marks_nine(svc: Service, telegram: tuple[FakeTelegram, str]) -> None:
    ids = await asyncio.to_thread(_seed, svc)
    fake, base = telegram
    bot = _bot(base)
    dp = Dispatcher(service=svc)
    dp.include_router(build_router())
    try:
        await _feed(dp, bot, _press(f"oa:r:{ids['A']}", update_id=1))
        ask = fake.of("sendMessage")[-1]
        assert ask["text"] == "Xác nhận hồ sơ A đã xử lý xong?"
        buttons = [b for row in ask["reply_markup"]["inline_keyboard"] for b in row]
        assert [(b["text"], b["callback_data"]) for b in buttons] == [("Xác nhận", f"oa:rc:{ids['A']}"), ("Huỷ", f"oa:x:{ids['A']}")]

        await _feed(dp, bot, _press(f"oa:x:{ids['A']}", update_id=2))
        assert fake.of("editMessageText")[-1]["text"] == "Đã huỷ, hồ sơ chưa được ghi nhận xử lý xong."
        assert await asyncio.to_thread(_status, svc, "A") == 4

        await _feed(dp, bot, _press(f"oa:rc:{ids['A']}", update_id=3))
        assert fake.of("editMessageText")[-1]["text"] == (
            "Đã ghi nhận hồ sơ A đã xử lý xong lúc 09:00 01/12/2026. Người nộp sẽ được thông báo có kết quả."
        )
        assert await asyncio.to_thread(_status, svc, "A") == 9

        await _feed(dp, bot, _press(f"oa:rc:{ids['A']}", update_id=4))
        answer = fake.of("answerCallbackQuery")[-1]
        assert answer["show_alert"] == "true"
        assert fake.of("editMessageText")[-1]["text"] == "Không thực hiện được: Hồ sơ A đã được ghi nhận xử lý xong trước đó."
    finally:
        await bot.session.close()

    def check() -> None:
        with svc.factory() as session:
            d = session.scalar(select(Dossier).where(Dossier.code == "A"))
            assert d is not None
            events = session.scalars(select(DossierEvent).where(DossierEvent.dossier_id == d.id).order_by(DossierEvent.id)).all()
            assert [(e.from_status, e.to_status, e.source) for e in events][-1] == (4, 9, "telegram")
            audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "dossier.resolved")).all()
            assert [(a.actor, a.target) for a in audit] == [("telegram:CB01", "A")]
        svc.scan()
        with svc.factory() as session:
            kinds = session.scalars(select(Notification.kind).where(Notification.dossier_id == ids["A"])).all()
        assert "result_ready" in kinds

    await asyncio.to_thread(check)


def _status(service: Service, code: str) -> int:
    with service.factory() as session:
        return int(session.scalar(select(Dossier.status).where(Dossier.code == code)) or 0)


async def test_only_officers_of_the_dossiers_agency_may_press(svc: Service, telegram: tuple[FakeTelegram, str]) -> None:
    ids = await asyncio.to_thread(_seed, svc)
    fake, base = telegram
    bot = _bot(base)
    # The chatbot's dispatcher hands its own `deps`, not the service: the router reads what it needs from it.
    deps = BotDeps(Conversation.from_service(svc, "1:x"))
    dp = Dispatcher(deps=deps)
    dp.include_router(build_router())
    try:
        await _feed(dp, bot, _press(f"oa:r:{ids['A']}", user=STRANGER, update_id=1))
        assert fake.of("answerCallbackQuery")[-1]["text"] == "Tài khoản Telegram này chưa được đăng ký là cán bộ trên hệ thống nhắc việc."
        await _feed(dp, bot, _press(f"oa:n:{ids['A']}", user=555009, update_id=2))
        assert fake.of("answerCallbackQuery")[-1]["text"] == "Đồng chí không thuộc cơ quan giải quyết hồ sơ A."
        await _feed(dp, bot, _reply("10/12/2026; lý do", "Đặt ngày hẹn mới cho hồ sơ A\n…", user=555009, update_id=3))
        assert fake.of("sendMessage")[-1]["text"].startswith("Không thực hiện được: Đồng chí không thuộc cơ quan giải quyết hồ sơ A.")
        assert fake.of("sendMessage") and all("Xác nhận" not in m["text"] for m in fake.of("sendMessage"))
    finally:
        await bot.session.close()
    assert await asyncio.to_thread(_status, svc, "A") == 4


def test_the_same_actions_over_the_api(svc: Service) -> None:
    _seed(svc)
    with svc.factory() as session, session.begin():
        key = create_key(session, "portal", svc.clock.now())
    client = TestClient(create_app(svc))
    auth = {"Authorization": f"Bearer {key}"}
    ok = client.post("/api/v1/dossiers/A/resolve", json={"officer": "CB01", "note": "Đã ký"}, headers=auth)
    assert ok.status_code == 200, ok.text
    assert ok.json() == {"MaHoSo": "A", "status": 9, "at": "2026-12-01T09:00:00+07:00"}
    again = client.post("/api/v1/dossiers/A/resolve", headers=auth)
    assert again.status_code == 409 and again.json()["detail"][0]["field"] == "TrangThaiHoSo"
    paused = client.post("/api/v1/dossiers/P/resolve", headers=auth)
    assert paused.status_code == 409 and paused.json()["detail"][0]["value"] == 5
    assert client.post("/api/v1/dossiers/NOPE/resolve", headers=auth).status_code == 404
    other = client.post("/api/v1/dossiers/B/resolve", json={"officer": "XD01"}, headers=auth)
    assert other.status_code == 403
    assert client.post("/api/v1/dossiers/B/resolve").status_code == 401
    with svc.factory() as session:
        assert session.scalar(select(Dossier.status).where(Dossier.code == "B")) == 4
        event = session.scalar(select(DossierEvent).where(DossierEvent.to_status == 9))
        assert event is not None and event.detail == "Đã ký" and event.source == "api"
