"""Status lookup through the real dispatcher: what is shown, what is never shown, and the slow-down."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from notifier.store.models import ChatLink, LookupFailure, Notification
from notifier.workflows.ingest import upsert
from tests.factories import dossier, ts
from tests.fakes import bot_harness
from tests.fakes.bot_harness import CHAT, D1, D2, D3, OTHER, PAY_LINK, Harness, queue_notice

NEUTRAL = "Không tìm thấy hồ sơ khớp với mã hồ sơ và 4 số cuối điện thoại đã gửi."

tg = bot_harness.tg  # the running bot (fixture)


def _failures(tg: Harness, chat: int) -> int:
    with tg.service.factory() as session:
        return session.scalar(
            select(func.count()).select_from(LookupFailure).where(LookupFailure.chat_id == str(chat))
        )


async def test_code_and_last_four_digits_show_the_status(tg: Harness) -> None:
    reply = await tg.say(OTHER, f"{D1} 5678")
    text = reply["text"]
    assert text.startswith(f"Hồ sơ {D1}\n")
    assert "Thủ tục: Cấp Thẻ công chứng viên" in text
    assert "Cơ quan giải quyết: Sở Tư pháp thành phố Hải Phòng" in text
    assert "Trạng thái: Đang xử lý" in text
    assert "Ngày tiếp nhận: 20/11/2026" in text
    assert "Ngày hẹn trả kết quả: 04/12/2026" in text
    assert "Còn 3 ngày làm việc đến ngày hẹn trả kết quả." in text
    assert "091****678" in text and "0912345678" not in text
    assert "Nguyễn Văn An" not in text  # the name is not needed to follow a dossier
    assert "thanh toán" not in text.lower()  # paid already
    # Not linked yet: a button offers notifications for this dossier.
    [[button]] = reply["reply_markup"]["inline_keyboard"]
    assert button["text"] == "Nhận thông báo hồ sơ này qua Telegram"
    assert button["callback_data"].startswith(f"d:sub:{tg.id_of(D1)}:")


async def test_slash_command_and_lower_case_code_work_too(tg: Harness) -> None:
    reply = await tg.say(OTHER, f"/tracuu {D1.lower()} 5678")
    assert f"Hồ sơ {D1}" in reply["text"]
    prompt = await tg.say(OTHER, "/tracuu")
    assert "Ví dụ: 000.00.30.H26-261120-0001 5678" in prompt["text"]
    button = await tg.say(OTHER, "Tra cứu hồ sơ")
    assert button["text"] == prompt["text"]


async def test_pending_payment_shows_the_fee_and_the_link(tg: Harness) -> None:
    text = (await tg.say(OTHER, f"{D2} 5678"))["text"]
    assert "Trạng thái: Yêu cầu thực hiện nghĩa vụ tài chính" in text
    assert "Hồ sơ đang chờ Ông/Bà thực hiện nghĩa vụ tài chính: 200.000 đồng." in text
    assert f"Thanh toán trực tuyến: {PAY_LINK}" in text
    assert "ngày làm việc" not in text  # the clock waits for the citizen in status 6


async def test_overdue_dossier_shows_days_late_and_the_apology_once_sent(tg: Harness) -> None:
    text = (await tg.say(OTHER, f"{D3} 4321"))["text"]
    assert "Hồ sơ đã quá hạn 4 ngày làm việc." in text
    assert "Mẫu số 04" not in text
    # The agency sets a new appointment and the apology goes out.
    now = tg.clock.now()
    with tg.service.factory() as session, session.begin():
        report = upsert(
            session,
            [dossier(D3, SoDienThoai="0987654321", NgayHenTra=ts(2026, 12, 10, 17, 0), MaCanBo="CB02")],
            now,
            source="test",
        )
        assert not report.errors
    queue_notice(tg.service, D3, "overdue_apology", status="sent", sent_at=now - timedelta(hours=1))
    text = (await tg.say(OTHER, f"{D3} 4321"))["text"]
    assert (
        "Cơ quan đã gửi Mẫu số 04 \"Văn bản xin lỗi và đề nghị gia hạn thời gian giải quyết\" ngày 01/12/2026; ngày hẹn trả mới: 10/12/2026."
        in text
    )
    assert "Ngày hẹn trả kết quả: 10/12/2026" in text


async def test_a_refused_or_new_dossier_shows_no_appointment(tg: Harness) -> None:
    for status in (3, 1):
        with tg.service.factory() as session, session.begin():
            report = upsert(session, [dossier(D1, TrangThaiHoSo=status)], tg.clock.now(), source="test")
            assert not report.errors
        text = (await tg.say(OTHER, f"{D1} 5678"))["text"]
        assert "hẹn trả" not in text, text


async def test_wrong_digits_get_the_same_reply_as_an_unknown_code(tg: Harness) -> None:
    wrong = await tg.say(OTHER, f"{D1} 1234")
    unknown = await tg.say(OTHER, "000.00.30.H26-999999-9999 5678")
    assert wrong["text"] == unknown["text"]
    assert wrong["text"].startswith(NEUTRAL)
    assert wrong.get("reply_markup") is None and unknown.get("reply_markup") is None
    assert D1 not in wrong["text"]
    assert _failures(tg, OTHER) == 2


async def test_code_without_digits_asks_for_them_whether_or_not_it_exists(tg: Harness) -> None:
    real = await tg.say(OTHER, D1)
    fake = await tg.say(OTHER, "000.00.30.H26-999999-9999")
    assert real["text"] == fake["text"].replace("000.00.30.H26-999999-9999", D1)
    assert "4 số cuối" in real["text"] and "Đang xử lý" not in real["text"]
    assert _failures(tg, OTHER) == 0  # asking is not guessing


async def test_repeated_failures_slow_the_chat_down(tg: Harness) -> None:
    # [bot] failed_lookup_limit = 3, window 1 hour, slowdown 300 s (see the tg fixture).
    for guess in ("0000", "1111", "2222"):
        assert (await tg.say(OTHER, f"{D1} {guess}"))["text"].startswith(NEUTRAL)
    slowed = await tg.say(OTHER, f"{D1} 5678")  # even the right digits are not checked now
    assert "tra cứu không thành công nhiều lần" in slowed["text"]
    assert "thử lại sau 5 phút (từ 09:05 01/12/2026)" in slowed["text"]
    assert "Đang xử lý" not in slowed["text"]
    assert _failures(tg, OTHER) == 3  # a refused try is not evaluated, so not counted
    # Another chat is not affected.
    assert "Đang xử lý" in (await tg.say(CHAT, f"{D1} 5678"))["text"]

    tg.clock.advance(timedelta(seconds=301))
    assert "Đang xử lý" in (await tg.say(OTHER, f"{D1} 5678"))["text"]
    # Still within the window: one more miss and the chat waits again.
    assert (await tg.say(OTHER, f"{D1} 3333"))["text"].startswith(NEUTRAL)
    assert "nhiều lần" in (await tg.say(OTHER, f"{D1} 5678"))["text"]

    tg.clock.advance(timedelta(hours=1, seconds=1))  # the window is over
    assert "Đang xử lý" in (await tg.say(OTHER, f"{D1} 5678"))["text"]
    assert (await tg.say(OTHER, f"{D1} 4444"))["text"].startswith(NEUTRAL)
    # old misses no longer count (kept for the code's longer window: [bot] code_failed_lookup_window_seconds)
    assert _failures(tg, OTHER) == 5


async def test_subscribe_button_links_the_dossier_and_a_forged_one_does_not(tg: Harness) -> None:
    reply = await tg.say(OTHER, f"{D3} 4321")
    data = reply["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    d1, d3 = tg.id_of(D1), tg.id_of(D3)
    sig = data.rsplit(":", 1)[1]
    # The same signature for another dossier, or from another chat, is refused.
    forged = await tg.press(OTHER, f"d:sub:{d1}:{sig}")
    assert forged["text"] == "Thao tác này không còn hiệu lực. Vui lòng tra cứu lại hồ sơ."
    stolen = await tg.press(CHAT, data)
    assert stolen["text"] == forged["text"]
    assert tg.fake.calls_to("answerCallbackQuery")  # the button's spinner is stopped

    ok = await tg.press(OTHER, data)
    assert ok["text"] == f"Đã đăng ký nhận thông báo về hồ sơ {D3} qua Telegram. Gửi /huy nếu muốn dừng."
    with tg.service.factory() as session:
        links = session.execute(select(ChatLink.chat_id, ChatLink.dossier_id, ChatLink.consent_at)).all()
    assert [(c, d) for c, d, _ in links] == [(str(OTHER), d3)]
    assert links[0][2] == tg.clock.now()
    # Linked now: no digits needed, and no subscribe button any more.
    linked = await tg.say(OTHER, f"/tracuu {D3}")
    assert "Hồ sơ đã quá hạn 4 ngày làm việc." in linked["text"]
    assert linked.get("reply_markup") is None
    # But the other dossiers of the same phone are not revealed by it.
    assert "4 số cuối" in (await tg.say(OTHER, f"/tracuu {D1}"))["text"]


async def test_apology_notices_only_count_once_sent(tg: Harness) -> None:
    queue_notice(tg.service, D3, "overdue_apology")  # queued, not sent yet
    text = (await tg.say(OTHER, f"{D3} 4321"))["text"]
    assert "Mẫu số 04" not in text
    with tg.service.factory() as session:
        assert session.scalar(select(func.count()).select_from(Notification)) == 1
