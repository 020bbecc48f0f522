"""The chatbot's scenarios, written once and run through every chat adapter (tests/chat_drivers.py), on
SQLite and PostgreSQL: what a citizen and an officer see must not drift between platforms."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from notifier.rules.clock import VN_TZ, FixedClock
from notifier.store.models import ChatLink, Contact, Dossier, Feedback, LookupFailure
from tests.chat_drivers import DRIVERS, ChatDriver
from tests.fakes.bot_harness import CHAT, D1, D2, D3, OTHER

NEUTRAL = "Không tìm thấy hồ sơ khớp với mã hồ sơ và 4 số cuối điện thoại đã gửi."
OFFICER = 9001  # CB02, who handles D3 (overdue)
TEXT = "Tôi nộp hồ sơ đã hơn mười ngày mà chưa thấy cán bộ liên hệ, đề nghị kiểm tra giúp."


@pytest.fixture(params=DRIVERS, ids=lambda d: d.name)
async def chat(
    request: pytest.FixtureRequest, db_url: str, tmp_path: Path, clock: FixedClock
) -> AsyncIterator[Any]:
    driver = await request.param.start(
        db_url,
        tmp_path,
        clock,
        bot={"failed_lookup_limit": 3, "failed_lookup_window_seconds": 3600, "slowdown_seconds": 300},
    )
    try:
        yield driver
    finally:
        await driver.stop()


def _count(chat: ChatDriver, model: Any, *where: Any) -> int:
    with chat.service.factory() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def test_lookup_by_code_and_last_digits_then_subscribe(chat: ChatDriver) -> None:
    [found] = await chat.send_text(OTHER, f"{D1} 5678")
    assert found.text.startswith(f"Hồ sơ {D1}\n")
    assert "Trạng thái: Đang xử lý" in found.text and "091****678" in found.text
    assert "0912345678" not in found.text and "Nguyễn Văn An" not in found.text
    label = f"Nhận thông báo hồ sơ này qua {chat.platform_name}"
    assert [b for b, _ in found.buttons] == [label]

    [done] = await chat.press(OTHER, label)
    assert done.text.startswith(f"Đã đăng ký nhận thông báo về hồ sơ {D1} qua {chat.platform_name}.")
    assert _count(chat, ChatLink, ChatLink.active) == 1
    # Linked now: the code alone answers, with no subscribe button.
    [again] = await chat.send_text(OTHER, D1.lower())
    assert again.text.startswith(f"Hồ sơ {D1}\n") and again.buttons == ()


async def test_wrong_digits_get_the_same_neutral_answer_and_slow_the_chat_down(chat: ChatDriver) -> None:
    [unknown] = await chat.send_text(OTHER, "000.00.30.H26-261120-9999 5678")
    [wrong] = await chat.send_text(OTHER, f"{D1} 0000")
    assert unknown.text == wrong.text and wrong.text.startswith(NEUTRAL)
    # Without digits: the same request for them whether the code exists or not.
    [ask_known] = await chat.send_text(OTHER, D1)
    [ask_unknown] = await chat.send_text(OTHER, "000.00.30.H26-261120-9999")
    assert ask_known.text.replace(D1, "X") == ask_unknown.text.replace("000.00.30.H26-261120-9999", "X")
    await chat.send_text(OTHER, f"{D2} 1111")  # the third miss
    [slowed] = await chat.send_text(OTHER, f"{D1} 5678")  # even the right digits wait now
    assert "thử lại sau" in slowed.text and D1 not in slowed.text
    assert _count(chat, LookupFailure) == 3


async def test_sharing_ones_own_phone_links_every_dossier_of_it(chat: ChatDriver) -> None:
    [refused] = await chat.share_contact(CHAT, "0912345678", own=False)
    assert "chỉ liên kết được số điện thoại của chính tài khoản" in refused.text
    assert _count(chat, ChatLink) == 0

    [linked] = await chat.share_contact(CHAT, "0912345678")
    assert f"Đã liên kết số 091****678 với {chat.platform_name} này." in linked.text
    assert D1 in linked.text and D2 in linked.text and D3 not in linked.text
    [mine] = await chat.send_text(CHAT, "Hồ sơ của tôi")
    assert mine.text.startswith(f"Hồ sơ liên kết với {chat.platform_name} này (2):")
    assert {b for b, _ in mine.buttons} == {D1, D2}
    [details] = await chat.press(CHAT, D2)
    assert details.text.startswith(f"Hồ sơ {D2}\n") and "200.000 ₫" in details.text
    # A linked chat looks up its dossiers by code alone.
    [by_code] = await chat.send_text(CHAT, D1)
    assert by_code.text.startswith(f"Hồ sơ {D1}\n")


async def test_stop_and_resume_notices(chat: ChatDriver) -> None:
    await chat.share_contact(CHAT, "0912345678")
    [stopped] = await chat.send_text(CHAT, "Hủy nhận tin")
    assert stopped.text.startswith(f"Đã dừng gửi thông báo hồ sơ qua {chat.platform_name}.")
    assert _count(chat, Contact, Contact.opted_out_at.is_not(None)) == 1
    [mine] = await chat.send_text(CHAT, "/hoso")
    assert f"Ông/Bà đang tạm dừng nhận thông báo qua {chat.platform_name}" in mine.text
    [resumed] = await chat.send_text(CHAT, "/batdau")
    assert resumed.text.startswith(f"Đã bật lại thông báo hồ sơ qua {chat.platform_name}.")
    assert _count(chat, Contact, Contact.opted_out_at.is_not(None)) == 0


async def test_feedback_about_a_dossier_gets_its_number_and_answer_deadline(chat: ChatDriver) -> None:
    await chat.share_contact(CHAT, "0912345678")
    [choose] = await chat.send_text(CHAT, "Gửi phản ánh, kiến nghị")
    assert "Phản ánh về hồ sơ nào?" in choose.text
    assert [b for b, _ in choose.buttons][2:] == ["Không gắn với hồ sơ", "Hủy"]
    [ask] = await chat.press(CHAT, D1)
    assert ask.text.startswith(f"Phản ánh về hồ sơ {D1}.\nVui lòng nhập nội dung phản ánh, kiến nghị")
    [short] = await chat.send_text(CHAT, "chậm quá")
    assert short.text.startswith("Nội dung phản ánh, kiến nghị cần dài từ 10 đến 2000 ký tự.")
    [sent] = await chat.send_text(CHAT, TEXT)
    with chat.service.factory() as session:
        [row] = session.scalars(select(Feedback)).all()
        d1 = session.scalar(select(Dossier.id).where(Dossier.code == D1))
    assert sent.text.endswith(f"qua {chat.platform_name} này, chậm nhất ngày 15/12/2026.")
    assert f"số {row.id}" in sent.text
    assert (row.text, row.dossier_id, row.status) == (TEXT, d1, "open")
    # The form is over: the next text is read as a look-up again.
    [after] = await chat.send_text(CHAT, "xin chào")
    assert "Feedback" not in after.text and _count(chat, Feedback) == 1


async def test_feedback_can_be_cancelled(chat: ChatDriver) -> None:
    await chat.send_text(OTHER, "/phananh")
    [cancelled] = await chat.press(OTHER, "Hủy")
    assert cancelled.menu
    await chat.send_text(OTHER, TEXT)
    assert _count(chat, Feedback) == 0


async def test_officer_sets_a_new_date_from_the_alert_button(chat: ChatDriver) -> None:
    chat.link_officer(OFFICER, "CB02")
    with chat.service.factory() as session:
        d3 = session.scalar(select(Dossier.id).where(Dossier.code == D3))
    # Somebody who is no officer presses a forwarded button: nothing changes.
    await chat.press_payload(OTHER, f"oa:n:{d3}")
    [ask] = await chat.press_payload(OFFICER, f"oa:n:{d3}")
    assert ask.text.startswith(f"Đặt ngày hẹn mới cho hồ sơ {D3}") and ask.asks_reply
    [refused] = await chat.send_text(OFFICER, "hôm qua; chậm")
    assert refused.text.startswith("Không thực hiện được: 'hôm qua' không phải ngày hợp lệ")
    [done] = await chat.send_text(OFFICER, "10/12/2026; Chờ ý kiến của cơ quan phối hợp")
    assert done.text.startswith(f"Đã đặt ngày hẹn trả mới 10/12/2026 cho hồ sơ {D3}.")
    with chat.service.factory() as session:
        due = session.scalar(select(Dossier.due_at).where(Dossier.id == d3))
    assert due is not None and f"{due.astimezone(VN_TZ):%d/%m/%Y}" == "10/12/2026"


async def test_officer_marks_a_dossier_done_after_confirming(chat: ChatDriver) -> None:
    chat.link_officer(OFFICER, "CB02")
    with chat.service.factory() as session:
        d3 = session.scalar(select(Dossier.id).where(Dossier.code == D3))
    [confirm] = await chat.press_payload(OFFICER, f"oa:r:{d3}")
    assert confirm.text == f"Xác nhận hồ sơ {D3} đã xử lý xong?"
    await chat.press(OFFICER, "Xác nhận")
    with chat.service.factory() as session:
        status = session.scalar(select(Dossier.status).where(Dossier.id == d3))
    assert status == 9
    assert chat.replies(OFFICER)[-1].text.startswith(f"Đã ghi nhận hồ sơ {D3} đã xử lý xong")
