"""Linking a chat by sharing one's own contact, and /hoso: the chat's dossiers and their details."""

from __future__ import annotations

from sqlalchemy import select

from notifier.store.models import AuditEntry, ChatLink, Contact
from tests.fakes import bot_harness
from tests.fakes.bot_harness import CHAT, D1, D2, D3, OTHER, Harness

NOT_OWN = "Vì lý do bảo mật, chỉ liên kết được số điện thoại của chính tài khoản Telegram này."

tg = bot_harness.tg  # the running bot (fixture)


def _links(tg: Harness) -> list[tuple[str, str | None, int | None, bool]]:
    with tg.service.factory() as session:
        rows = session.execute(
            select(ChatLink.chat_id, ChatLink.phone, ChatLink.dossier_id, ChatLink.active).order_by(
                ChatLink.id
            )
        ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


async def test_sharing_ones_own_contact_links_every_dossier_of_that_phone(tg: Harness) -> None:
    # Telegram sends the number without "+"; it is the sender's own (user_id == from.id).
    reply = await tg.contact(CHAT, "84912345678", contact_user_id=CHAT)
    text = reply["text"]
    assert text.startswith("Đã liên kết số 091****678 với Telegram này.")
    assert f"- {D1}: Đang xử lý" in text
    assert f"- {D2}: Yêu cầu thực hiện nghĩa vụ tài chính" in text
    assert D3 not in text
    assert reply["reply_markup"]["keyboard"]  # the menu stays
    assert _links(tg) == [(str(CHAT), "+84912345678", None, True)]
    with tg.service.factory() as session:
        link = session.scalar(select(ChatLink))
        contact = session.scalar(select(Contact).where(Contact.address == str(CHAT)))
        audit = session.scalars(select(AuditEntry.action)).all()
    assert link is not None and link.consent_at == tg.clock.now() and link.user_id == str(CHAT)
    assert contact is not None and contact.medium == "telegram" and contact.consent_at == tg.clock.now()
    assert "bot.link_phone" in audit

    # Linked: no digits needed for its dossiers.
    assert "Trạng thái: Đang xử lý" in (await tg.say(CHAT, f"/tracuu {D1}"))["text"]
    assert "Trạng thái: Đang xử lý" in (await tg.say(CHAT, D1))["text"]
    assert "4 số cuối" in (await tg.say(CHAT, D3))["text"]


async def test_someone_elses_contact_is_refused(tg: Harness) -> None:
    forwarded = await tg.contact(OTHER, "0912345678", contact_user_id=CHAT)
    assert forwarded["text"].startswith(NOT_OWN)
    no_user = await tg.contact(OTHER, "0912345678", contact_user_id=None)  # a card typed into the phone book
    assert no_user["text"].startswith(NOT_OWN)
    assert _links(tg) == []
    # And the dossiers stay hidden from that chat.
    assert "4 số cuối" in (await tg.say(OTHER, f"/tracuu {D1}"))["text"]


async def test_a_foreign_number_is_not_linked(tg: Harness) -> None:
    reply = await tg.contact(OTHER, "+14155550100", contact_user_id=OTHER)
    assert "không phải số điện thoại Việt Nam hợp lệ" in reply["text"]
    assert _links(tg) == []


async def test_a_phone_without_dossiers_links_for_the_future(tg: Harness) -> None:
    reply = await tg.contact(OTHER, "0971234567", contact_user_id=OTHER)
    assert "Hiện chưa có hồ sơ nào đứng tên số này" in reply["text"]
    assert _links(tg) == [(str(OTHER), "+84971234567", None, True)]


async def test_the_number_moves_to_the_account_that_shares_it_last(tg: Harness) -> None:
    await tg.contact(CHAT, "0912345678", contact_user_id=CHAT)
    before = len(tg.fake.sent(CHAT))
    await tg.contact(OTHER, "0912345678", contact_user_id=OTHER)
    await tg.fake.wait_sent(CHAT, before + 1)  # the old chat is told the number moved
    assert _links(tg) == [
        (str(CHAT), "+84912345678", None, False),
        (str(OTHER), "+84912345678", None, True),
    ]
    assert "4 số cuối" in (await tg.say(CHAT, f"/tracuu {D1}"))["text"]


async def test_my_dossiers_lists_the_linked_ones_and_opens_details(tg: Harness) -> None:
    empty = await tg.say(CHAT, "/hoso")
    assert empty["text"].startswith("Chưa có hồ sơ nào liên kết với Telegram này.")
    await tg.contact(CHAT, "0912345678", contact_user_id=CHAT)
    listed = await tg.say(CHAT, "Hồ sơ của tôi")
    assert listed["text"].startswith("Hồ sơ liên kết với Telegram này (2):")
    assert f"- {D1}: Đang xử lý, hẹn trả 04/12/2026" in listed["text"]
    buttons = [row[0] for row in listed["reply_markup"]["inline_keyboard"]]
    assert {b["text"] for b in buttons} == {D1, D2}
    [d2_button] = [b for b in buttons if b["text"] == D2]
    detail = await tg.press(CHAT, d2_button["callback_data"])
    assert "Hồ sơ đang chờ Ông/Bà thực hiện nghĩa vụ tài chính: 200.000 ₫." in detail["text"]
    assert detail.get("reply_markup") is None  # already linked: nothing to subscribe to

    # A hand-made button for a dossier the chat is not linked to reveals nothing.
    sneaky = await tg.press(CHAT, f"d:show:{tg.id_of(D3)}:")
    assert sneaky["text"] == "Thao tác này không còn hiệu lực. Vui lòng tra cứu lại hồ sơ."


async def test_group_chats_are_ignored(tg: Harness) -> None:
    group = -100200300
    await tg.runtime.feed(tg.fake.message(group, f"{D1} 5678", user_id=CHAT, chat_type="supergroup"))
    await tg.runtime.feed(tg.fake.message(group, "/start", user_id=CHAT, chat_type="group"))
    assert tg.fake.sent(group) == []
