"""The chatbot's scenarios, written once and run through every chat adapter (tests/chat_drivers.py), on
SQLite and PostgreSQL: what a citizen and an officer see must not drift between platforms."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from notifier.rules.clock import VN_TZ, FixedClock
from notifier.store.models import ChatLink, ChatPreference, Contact, Dossier, Feedback, LookupFailure
from notifier.workflows.ingest import upsert
from tests.chat_drivers import DRIVERS, ChatDriver
from tests.factories import dossier
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


async def test_lookup_as_people_type_it(chat: ChatDriver) -> None:
    """The whole phone number with spaces, the keyword of the SMS service before the code, a code in
    quotes ending a sentence: each is the look-up the citizen meant, and none is counted as a miss."""
    for typed in (
        f"{D1} 0912 345 678",
        f"TRACUU {D1} +84 912 345 678",
        f"Tra cứu hồ sơ {D1}. 5678",
        f'"{D1}" - 5678',
    ):
        [found] = await chat.send_text(OTHER, typed)
        assert found.text.startswith(f"Hồ sơ {D1}\n"), (typed, found.text)
    assert _count(chat, LookupFailure) == 0
    # A code ending a sentence asks for the digits of that code, not of "code.".
    [ask] = await chat.send_text(OTHER, f"{D2}.")
    assert f"ví dụ: {D2} 5678" in ask.text


@pytest.mark.parametrize(
    ("status", "next_step"),
    [
        (5, "Ông/Bà vui lòng bổ sung hồ sơ trên Cổng Dịch vụ công quốc gia (dichvucong.gov.vn) hoặc tại"),
        (9, "Mời Ông/Bà nhận kết quả tại"),
        (3, "Lý do và hướng dẫn được nêu trong Phiếu từ chối tiếp nhận giải quyết hồ sơ"),
        (8, "Lý do được nêu trong Thông báo dừng giải quyết hồ sơ"),
    ],
)
async def test_lookup_says_what_to_do_next(chat: ChatDriver, status: int, next_step: str) -> None:
    """A dossier waiting for documents, ready to collect, refused or stopped: the look-up says what the
    citizen does next, as the notice of that status does (before, only the status name)."""
    code = "000.00.30.H26-261120-0050"
    with chat.service.factory() as session, session.begin():
        upsert(session, [dossier(code, TrangThaiHoSo=status)], chat.service.clock.now(), source="test")
    [found] = await chat.send_text(OTHER, f"{code} 5678")
    assert found.text.startswith(f"Hồ sơ {code}\n") and next_step in found.text, found.text


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
    assert details.text.startswith(f"Hồ sơ {D2}\n") and "200.000 đồng" in details.text
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


async def test_feedback_is_left_by_typing_huy_or_thoat(chat: ChatDriver) -> None:
    """People type "hủy" or "thoát" mid-form rather than find the button (a Zalo button cannot be typed):
    before, the form asked again, or called "hủy" a too-short feedback and asked to press "Hủy"."""
    await chat.send_text(OTHER, "Gửi phản ánh, kiến nghị")
    [left] = await chat.send_text(OTHER, "thoát")
    assert left.text.startswith("Đã hủy, phản ánh chưa được gửi.") and left.menu
    await chat.send_text(OTHER, "/phananh")
    await chat.press(OTHER, "Không gắn với hồ sơ")
    [left] = await chat.send_text(OTHER, "Huỷ")
    assert left.text.startswith("Đã hủy, phản ánh chưa được gửi.") and left.menu
    # The form is over: a feedback text now is not taken as one.
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


# -- the same scenarios in English (the chat catalog's "en"; tests/test_chat_languages.py checks the texts) --

EN_MENU = [
    "Look up an application",
    "My applications",
    "Share my phone number",
    "Send feedback",
    "Stop updates",
]


async def test_english_chosen_with_the_menu_button_and_kept_in_the_database(chat: ChatDriver) -> None:
    [hello] = await chat.send_text(OTHER, "/start")
    assert hello.text.startswith("Xin chào") and hello.menu_labels[-1] == "English"
    [help_en] = await chat.send_text(OTHER, "English")  # what the language button sends
    assert help_en.text.startswith("To look up an application, send its code and the last 4 digits")
    assert "/tiengviet (Tiếng Việt)" in help_en.text
    assert list(help_en.menu_labels) == [*EN_MENU, "Tiếng Việt"]
    with chat.service.factory() as session:
        stored = session.scalar(select(ChatPreference.language).where(ChatPreference.chat_id.like("%5002")))
    assert stored == "en"
    # Anything not understood gets the English help; the Vietnamese switch works typed without diacritics.
    [again] = await chat.send_text(OTHER, "hello?")
    assert again.text == help_en.text
    [back] = await chat.send_text(OTHER, "tieng viet")
    assert back.text.startswith("Để tra cứu, vui lòng gửi mã hồ sơ") and back.menu_labels[-1] == "English"
    [en_again] = await chat.send_text(OTHER, "/english")
    assert en_again.text == help_en.text


async def test_lookup_and_subscribe_in_english(chat: ChatDriver) -> None:
    await chat.send_text(OTHER, "/english")
    [unknown] = await chat.send_text(OTHER, "000.00.30.H26-261120-9999 5678")
    [wrong] = await chat.send_text(OTHER, f"{D1} 0000")
    assert unknown.text == wrong.text
    assert wrong.text.startswith("No application matches the code and the last 4 phone digits you sent.")
    [found] = await chat.send_text(OTHER, f"{D1} 5678")
    assert found.text.startswith(f"Application {D1}\nProcedure: ")
    assert "Status: In progress" in found.text and "Result due: 04/12/2026" in found.text
    label = f"Get updates on {chat.platform_name}"
    assert [b for b, _ in found.buttons] == [label]
    [done] = await chat.press(OTHER, label)
    assert (
        done.text
        == f"You will receive updates on application {D1} on {chat.platform_name}. Send /huy to stop them."
    )
    assert _count(chat, ChatLink, ChatLink.active) == 1


async def test_my_applications_in_english_with_amounts_in_vnd(chat: ChatDriver) -> None:
    await chat.send_text(CHAT, "English")
    [linked] = await chat.share_contact(CHAT, "0912345678")
    assert linked.text.startswith(
        f"The number 091****678 is now linked to this {chat.platform_name} account."
    )
    assert f"- {D1}: In progress" in linked.text
    [mine] = await chat.send_text(CHAT, "My applications")  # the English menu button
    assert mine.text.startswith(f"Applications linked to this {chat.platform_name} account (2):")
    assert f"- {D1}: In progress, due 04/12/2026" in mine.text
    [details] = await chat.press(CHAT, D2)
    assert "Status: Waiting for payment of fees" in details.text
    assert "The application is waiting for you to pay the fees: 200,000 VND." in details.text
    # The Vietnamese labels still work (keyboards already sent stay on phones), answering in English.
    [mine_vi] = await chat.send_text(CHAT, "Hồ sơ của tôi")
    assert mine_vi.text == mine.text


async def test_feedback_in_english(chat: ChatDriver) -> None:
    await chat.send_text(CHAT, "/english")
    await chat.share_contact(CHAT, "0912345678")
    [choose] = await chat.send_text(CHAT, "Send feedback")
    assert "Which application is it about?" in choose.text
    assert [b for b, _ in choose.buttons][2:] == ["Not about an application", "Cancel"]
    [ask] = await chat.press(CHAT, D1)
    assert ask.text.startswith(f"Feedback on application {D1}.\nPlease write your feedback in one message")
    [short] = await chat.send_text(CHAT, "too slow")
    assert short.text.startswith("Feedback must be 10 to 2000 characters long.")
    [sent] = await chat.send_text(CHAT, TEXT)
    [row] = _rows(chat, Feedback)
    assert sent.text.startswith(f"Feedback number {row.id} received and passed to ")
    assert sent.text.endswith(f"here on {chat.platform_name} by 15/12/2026 at the latest.")


async def test_linking_asks_the_linked_chat_in_its_own_language(chat: ChatDriver) -> None:
    await chat.share_contact(CHAT, "0912345678")  # the applicant's chat, in Vietnamese
    await chat.send_text(OTHER, "/english")
    await chat.send_text(OTHER, f"{D1} 5678")
    [pending] = await chat.press(OTHER, f"Get updates on {chat.platform_name}")
    assert pending.text.startswith(f"Another account already receives updates on application {D1}.")
    assert f"you will hear here on {chat.platform_name} when it is accepted" in pending.text
    if chat.name != "telegram":
        return  # the Zalo adapter does not deliver messages for other conversations (Outcome.elsewhere)
    asked = chat.replies(CHAT)[-1]
    assert asked.text.startswith(f"Một tài khoản {chat.platform_name} khác vừa tra cứu đúng hồ sơ {D1}")
    [agreed] = await chat.press(CHAT, "Đồng ý")
    assert agreed.text == f"Đã đồng ý. Tài khoản {chat.platform_name} kia sẽ nhận thông báo về hồ sơ {D1}."
    told = chat.replies(OTHER)[-1]
    assert told.text.startswith(f"You will receive updates on application {D1} on {chat.platform_name}.")


def _rows(chat: ChatDriver, model: Any) -> list[Any]:
    with chat.service.factory() as session:
        return list(session.scalars(select(model)).all())


async def test_officer_sets_a_new_date_in_english(chat: ChatDriver) -> None:
    chat.link_officer(OFFICER, "CB02")
    await chat.send_text(OFFICER, "/english")
    with chat.service.factory() as session:
        d3 = session.scalar(select(Dossier.id).where(Dossier.code == D3))
    [ask] = await chat.press_payload(OFFICER, f"oa:n:{d3}")
    assert ask.text.startswith(f"Set a new due date for application {D3}\nReply to this message as:")
    [refused] = await chat.send_text(OFFICER, "yesterday; slow")
    assert refused.text.startswith("Not done: 'yesterday' is not a valid date (dd/mm/yyyy).")
    [done] = await chat.send_text(OFFICER, "10/12/2026; Chờ ý kiến của cơ quan phối hợp")
    assert done.text.startswith(f"New due date 10/12/2026 set for application {D3}.")


async def test_a_stranger_pressing_an_officers_button_is_named_by_their_own_platform(
    chat: ChatDriver,
) -> None:
    with chat.service.factory() as session:
        d3 = session.scalar(select(Dossier.id).where(Dossier.code == D3))
    said = await chat.press_payload(OTHER, f"oa:n:{d3}")
    # Telegram answers a press with a pop-up (answerCallbackQuery); Zalo with a message.
    told = said[-1].text if said else chat.notices()[-1]  # type: ignore[attr-defined]
    assert told == f"Tài khoản {chat.platform_name} này chưa được đăng ký là cán bộ trên hệ thống nhắc việc."
