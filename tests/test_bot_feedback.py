"""Feedback (phản ánh, kiến nghị): the guided flow, routing to the agency's officers, the deadline, and the
officer's answer coming back to the citizen's chat through the outbox."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from notifier.rules.clock import FixedClock
from notifier.store.apikeys import create_key
from notifier.store.models import AuditEntry, Feedback, LookupFailure, Notification, Officer
from notifier.web.api import create_app
from notifier.workflows.service import Service
from tests.factories import AGENCY, AGENCY_NAME
from tests.fakes.bot_harness import (
    CHAT,
    D1,
    D3,
    OTHER,
    ChatRecorder,
    Harness,
    at,
    start_harness,
    stop_harness,
)

TEXT = "Tôi nộp hồ sơ đã hơn mười ngày mà chưa thấy cán bộ liên hệ, đề nghị kiểm tra giúp."
ANSWER = "Hồ sơ đang được thẩm định, kết quả sẽ trả đúng hẹn ngày 04/12/2026. Xin cảm ơn Ông/Bà."


async def _harness(
    db_url: str, tmp_path: Path, clock: FixedClock, **bot: Any
) -> tuple[Harness, ChatRecorder]:
    h, _ = await start_harness(
        db_url,
        tmp_path,
        clock,
        routing={"citizen": ["tgchat", "file"]},
        channels={"file": {"path": str(tmp_path / "outbox.jsonl"), "template": "chat"}},
        bot=bot,
    )
    recorder = ChatRecorder(clock)
    h.service.channels.put("tgchat", recorder)
    return h, recorder


@pytest.fixture
async def fb(db_url: str, tmp_path: Path, clock: FixedClock) -> AsyncIterator[tuple[Harness, ChatRecorder]]:
    h, recorder = await _harness(db_url, tmp_path, clock)
    try:
        yield h, recorder
    finally:
        await stop_harness(h)


def _outbox(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "outbox.jsonl"
    return (
        [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []
    )


def _api(h: Harness) -> tuple[TestClient, dict[str, str]]:
    with h.service.factory() as session, session.begin():
        key = create_key(session, "motcua", h.clock.now())
    return TestClient(create_app(h.service)), {"Authorization": f"Bearer {key}"}


def _feedback(h: Harness) -> list[Feedback]:
    with h.service.factory() as session:
        return list(session.scalars(select(Feedback).order_by(Feedback.id)))


def _notices(h: Harness, kind: str) -> list[Notification]:
    with h.service.factory() as session:
        return list(
            session.scalars(select(Notification).where(Notification.kind == kind).order_by(Notification.id))
        )


async def test_feedback_reaches_the_agency_and_the_answer_comes_back_to_the_chat(
    fb: tuple[Harness, ChatRecorder], tmp_path: Path
) -> None:
    h, recorder = fb
    await h.contact(CHAT, "0912345678", contact_user_id=CHAT)
    choose = await h.say(CHAT, "Gửi phản ánh, kiến nghị")
    assert "Phản ánh về hồ sơ nào?" in choose["text"]
    rows = choose["reply_markup"]["inline_keyboard"]
    labels = [row[0]["text"] for row in rows]
    assert set(labels[:2]) == {D1, "000.00.30.H26-261120-0002"} and labels[2:] == [
        "Không gắn với hồ sơ",
        "Hủy",
    ]
    [d1] = [row[0] for row in rows if row[0]["text"] == D1]

    ask = await h.press(CHAT, d1["callback_data"])
    assert ask["text"].startswith(f"Phản ánh về hồ sơ {D1}.\nVui lòng nhập nội dung phản ánh, kiến nghị")
    too_short = await h.say(CHAT, "chậm quá")
    assert too_short["text"].startswith("Nội dung phản ánh, kiến nghị cần dài từ 10 đến 2000 ký tự.")
    sent = await h.say(CHAT, TEXT)
    [row] = _feedback(h)
    assert sent["text"] == (
        f"Đã nhận phản ánh, kiến nghị số {row.id} và chuyển tới {AGENCY_NAME}.\n"
        "Câu trả lời sẽ được gửi cho Ông/Bà qua Telegram này, chậm nhất ngày 15/12/2026."
    )
    assert (row.chat_id, row.text, row.status) == (str(CHAT), TEXT, "open")
    assert row.dossier_id == h.id_of(D1)
    assert row.deadline_at == at(2026, 12, 15, 17, 0)  # 10 working days, at the end of the working day
    assert row.created_at == h.clock.now()

    # The agency's officers (not its head: D1 has no assigned officer) are alerted through their channel.
    alerts = _notices(h, "feedback_received")
    with h.service.factory() as session:
        codes = {session.get(Officer, n.officer_id).code for n in alerts}  # type: ignore[union-attr]
    assert codes == {"CB01", "CB02"}
    await h.service.dispatcher.drain()
    lines = [m for m in _outbox(tmp_path) if m["kind"] == "feedback_received"]
    assert {m["recipient"] for m in lines} == {"+84912000001", "+84912000002"}
    for m in lines:
        assert f"Nội dung: {TEXT}" in m["text"]
        assert "Hạn trả lời: 15/12/2026" in m["text"]
        assert f"Mã phản ánh: {row.id}" in m["text"] and D1 in m["text"]

    # An officer answers through the API; the answer goes to the citizen's chat.
    client, auth = _api(h)
    assert client.post(f"/api/v1/feedback/{row.id}/answer", json={"answer": ANSWER}).status_code == 401
    empty = client.post(f"/api/v1/feedback/{row.id}/answer", json={"answer": "  "}, headers=auth)
    assert empty.status_code == 422 and empty.json()["detail"][0]["field"] == "answer"
    assert (
        client.post("/api/v1/feedback/999999/answer", json={"answer": ANSWER}, headers=auth).status_code
        == 404
    )
    listed = client.get("/api/v1/feedback", headers=auth).json()
    assert (
        [f["id"] for f in listed] == [row.id] and listed[0]["MaHoSo"] == D1 and listed[0]["agency"] == AGENCY
    )
    ok = client.post(
        f"/api/v1/feedback/{row.id}/answer", json={"answer": ANSWER, "answered_by": "CB01"}, headers=auth
    )
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert (
        body["status"] == "answered"
        and body["answer"] == ANSWER
        and body["answered_by"] == "CB01 (api:motcua)"
    )
    again = client.post(f"/api/v1/feedback/{row.id}/answer", json={"answer": "Lần hai"}, headers=auth)
    assert again.status_code == 409
    assert client.get(f"/api/v1/feedback/{row.id}", headers=auth).json()["answer"] == ANSWER
    assert client.get("/api/v1/feedback", headers=auth).json() == []

    await h.service.dispatcher.drain()
    [message] = recorder.received
    assert message.kind == "feedback_answer" and message.address == str(CHAT)
    assert message.text.startswith(
        f"{AGENCY_NAME} trả lời phản ánh, kiến nghị của Ông/Bà gửi ngày 01/12/2026."
    )
    assert f"Mã hồ sơ: {D1}" in message.text
    assert f"Trả lời: {ANSWER}" in message.text
    assert f"Nội dung phản ánh: {TEXT}" in message.text
    with h.service.factory() as session:
        actions = session.scalars(select(AuditEntry.action)).all()
    assert "feedback.submit" in actions and "feedback.answer" in actions


async def test_feedback_about_no_dossier_goes_to_the_configured_agency(
    db_url: str, tmp_path: Path, clock: FixedClock
) -> None:
    h, recorder = await _harness(
        db_url, tmp_path, clock, feedback_agency=AGENCY, feedback_answer_working_days=5
    )
    try:
        choose = await h.say(OTHER, "/phananh")
        assert "Nếu phản ánh về một hồ sơ" in choose["text"]
        assert [row[0]["text"] for row in choose["reply_markup"]["inline_keyboard"]] == [
            "Không gắn với hồ sơ",
            "Hủy",
        ]
        ask = await h.press(OTHER, "fb:none")
        assert ask["text"].startswith("Vui lòng nhập nội dung phản ánh, kiến nghị")
        sent = await h.say(OTHER, TEXT)
        assert f"chuyển tới {AGENCY_NAME}" in sent["text"] and "08/12/2026" in sent["text"]
        [row] = _feedback(h)
        assert row.dossier_id is None and row.agency_id is not None
        assert len(_notices(h, "feedback_received")) == 2
        await h.service.dispatcher.drain()
        assert all("Nội dung:" in m["text"] for m in _outbox(tmp_path))

        client, auth = _api(h)
        assert (
            client.post(
                f"/api/v1/feedback/{row.id}/answer", json={"answer": ANSWER}, headers=auth
            ).status_code
            == 200
        )
        await h.service.dispatcher.drain()
        [message] = recorder.received
        assert message.address == str(OTHER)
        assert message.text.startswith(f"{AGENCY_NAME} trả lời phản ánh")
        assert "Mã hồ sơ" not in message.text
    finally:
        await stop_harness(h)


async def test_feedback_with_nowhere_to_go_is_kept_for_the_api(fb: tuple[Harness, ChatRecorder]) -> None:
    h, recorder = fb
    await h.say(OTHER, "/phananh")
    await h.press(OTHER, "fb:none")
    sent = await h.say(OTHER, TEXT)
    assert "phản ánh sẽ được chuyển tới cơ quan có thẩm quyền" in sent["text"]
    [row] = _feedback(h)
    assert row.agency_id is None and _notices(h, "feedback_received") == []
    client, auth = _api(h)
    assert client.get("/api/v1/feedback", headers=auth).json()[0]["agency"] is None
    assert (
        client.post(f"/api/v1/feedback/{row.id}/answer", json={"answer": ANSWER}, headers=auth).status_code
        == 200
    )
    await h.service.dispatcher.drain()
    [message] = recorder.received
    assert message.text.startswith("Trung tâm Phục vụ hành chính công thành phố Hải Phòng trả lời phản ánh")


async def test_a_typed_dossier_is_checked_like_a_lookup_and_goes_to_its_officer(
    fb: tuple[Harness, ChatRecorder],
) -> None:
    h, _ = fb
    await h.say(OTHER, "Gửi phản ánh, kiến nghị")
    wrong = await h.say(OTHER, f"{D3} 1111")
    assert wrong["text"].startswith("Không tìm thấy hồ sơ khớp")
    with h.service.factory() as session:
        assert session.scalar(select(func.count()).select_from(LookupFailure)) == 1
    before = len(h.fake.sent(OTHER))
    h.fake.message(OTHER, f"{D3} 4321")
    found, ask = (await h.fake.wait_sent(OTHER, before + 2))[before:]
    assert "Hồ sơ đã quá hạn 4 ngày làm việc." in found["text"]
    assert ask["text"].startswith(f"Phản ánh về hồ sơ {D3}.")
    await h.say(OTHER, TEXT)
    [row] = _feedback(h)
    assert row.dossier_id == h.id_of(D3)
    [alert] = _notices(h, "feedback_received")
    with h.service.factory() as session:
        assert session.get(Officer, alert.officer_id).code == "CB02"  # type: ignore[union-attr]


async def test_cancel_and_menu_buttons_leave_the_form(fb: tuple[Harness, ChatRecorder]) -> None:
    h, _ = fb
    await h.say(OTHER, "/phananh")
    await h.press(OTHER, "fb:none")
    cancelled = await h.press(OTHER, "fb:cancel")
    assert cancelled["text"] == "Đã hủy, phản ánh chưa được gửi."
    after = await h.say(OTHER, TEXT)
    assert after["text"].startswith("Để tra cứu, vui lòng gửi mã hồ sơ")  # the help, not a stored feedback
    await h.say(OTHER, "/phananh")
    await h.press(OTHER, "fb:none")
    menu = await h.say(OTHER, "Tra cứu hồ sơ")
    assert menu["text"].startswith("Vui lòng gửi mã hồ sơ và 4 số cuối")
    await h.say(OTHER, TEXT)
    assert _feedback(h) == []


def test_the_answer_endpoint_names_the_bad_field(service: Service) -> None:
    with service.factory() as session, session.begin():
        key = create_key(session, "motcua", service.clock.now())
    client, auth = TestClient(create_app(service)), {"Authorization": f"Bearer {key}"}
    huge = client.post(f"/api/v1/feedback/{2**70}/answer", json={"answer": ANSWER}, headers=auth)
    assert huge.status_code == 422
    assert client.get(f"/api/v1/feedback/{2**70}", headers=auth).status_code == 422
    not_json = client.post("/api/v1/feedback/1/answer", content=b"{oops", headers=auth)
    assert not_json.status_code == 422 and not_json.json()["detail"][0]["field"] == "body"
    who = client.post("/api/v1/feedback/1/answer", json={"answer": ANSWER, "answered_by": 7}, headers=auth)
    assert who.status_code == 422 and who.json()["detail"][0] == {
        "field": "answered_by",
        "value": 7,
        "reason": "expected an officer code or name",
    }
    # A NUL (PostgreSQL refuses it in text) is refused naming its field, before any row is looked at.
    nul = client.post("/api/v1/feedback/1/answer", json={"answer": "Đã\x00 xử lý"}, headers=auth)
    assert nul.status_code == 422 and nul.json()["detail"][0]["field"] == "answer"
    nul_by = client.post(
        "/api/v1/feedback/1/answer", json={"answer": ANSWER, "answered_by": "CB\x00"}, headers=auth
    )
    assert nul_by.status_code == 422 and nul_by.json()["detail"][0]["field"] == "answered_by"
    nul_agency = client.get("/api/v1/feedback", params={"agency": "H26\x00"}, headers=auth)
    assert nul_agency.status_code == 422 and nul_agency.json()["detail"][0]["field"] == "agency"
    long = client.post("/api/v1/feedback/1/answer", json={"answer": "x" * 3001}, headers=auth)
    assert long.status_code == 422 and "at most 3000 characters" in long.json()["detail"][0]["reason"]
    assert client.get("/api/v1/feedback?status=maybe", headers=auth).json()["detail"][0]["field"] == "status"
