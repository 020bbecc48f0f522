"""/start, the menu, help and the editable texts: the real aiogram dispatcher against a fake Bot API."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from notifier.rules.rendering import TemplateError
from notifier.store.bot_texts import NAMES, save_text
from notifier.store.models import Template
from tests.fakes import bot_harness
from tests.fakes.bot_harness import CHAT, Harness

# The five actions, then the switch to English (named in English, as language pickers do).
MENU = [
    "Tra cứu hồ sơ", "Hồ sơ của tôi", "Chia sẻ số điện thoại", "Gửi phản ánh, kiến nghị", "Hủy nhận tin", "English"
]  # fmt: skip

tg = bot_harness.tg  # the running bot (fixture)


async def test_start_greets_in_vietnamese_with_the_menu_and_its_language_switch(tg: Harness) -> None:
    reply = await tg.say(CHAT, "/start", first_name="Hương")
    assert reply["text"].startswith("Xin chào Hương!")
    assert "Hải Phòng" in reply["text"] and "4 số cuối" in reply["text"]
    keyboard = reply["reply_markup"]["keyboard"]
    labels = [button["text"] for row in keyboard for button in row]
    assert sorted(labels) == sorted(MENU)
    [share] = [b for row in keyboard for b in row if b["text"] == "Chia sẻ số điện thoại"]
    assert share["request_contact"] is True
    assert reply["reply_markup"]["resize_keyboard"] is True


async def test_anything_else_gets_the_help_and_the_menu(tg: Harness) -> None:
    reply = await tg.say(CHAT, "xin chào, tôi cần hỏi")
    assert reply["text"].startswith("Để tra cứu, vui lòng gửi mã hồ sơ và 4 số cuối số điện thoại")
    assert reply["reply_markup"]["keyboard"]
    sticker_like = await tg.say(CHAT, "/lenhkhongco")
    assert sticker_like["text"] == reply["text"]


async def test_bot_texts_are_seeded_and_an_admins_edit_is_used(tg: Harness) -> None:
    with tg.service.factory() as session:
        seeded = set(session.scalars(select(Template.kind).where(Template.channel_type == "bot")))
    assert seeded == NAMES
    edited = "Xin gửi mã hồ sơ kèm 4 số cuối điện thoại đã đăng ký, ví dụ {{ 'MAHOSO' }} 5678."
    with tg.service.factory() as session, session.begin():
        with pytest.raises(TemplateError, match="unknown_name"):
            save_text(session, "help", "{{ unknown_name }}", "admin", tg.clock.now())
        save_text(session, "help", edited, "admin", tg.clock.now())
    assert (await tg.say(CHAT, "xin chào"))[
        "text"
    ] == "Xin gửi mã hồ sơ kèm 4 số cuối điện thoại đã đăng ký, ví dụ MAHOSO 5678."
    # A stored version that breaks at run time (saved around the validation) falls back to the shipped file.
    with tg.service.factory() as session, session.begin():
        session.add(
            Template(
                kind="help",
                channel_type="bot",
                agency_id=None,
                version=99,
                subject=None,
                body="{{ missing.attr }}",
                author="db",
                created_at=tg.clock.now(),
            )
        )
    assert (await tg.say(CHAT, "xin chào"))["text"].startswith("Để tra cứu, vui lòng gửi mã hồ sơ")
