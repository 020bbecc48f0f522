"""The chatbot in Vietnamese and English (domain "chat" of the message catalogs): every text in both
languages, nothing Vietnamese left in English but the data, the chat's choice stored for every process, the
platform's hint, and admins' edits (Vietnamese) kept for Vietnamese chats."""

from __future__ import annotations

import unicodedata
from collections.abc import AsyncIterator, Iterator
from dataclasses import fields, is_dataclass
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import func, select, update

from notifier.cli import catalogs
from notifier.rules.clock import VN_TZ, FixedClock
from notifier.rules.i18n import gettext
from notifier.rules.rendering import render
from notifier.rules.statuses import STATUS_NAMES
from notifier.store.bot_texts import BotTexts, samples, save_text
from notifier.store.models import ChatPreference, Template
from notifier.workflows.conversation import Conversation, MemoryChatState, Platform, Sender, TextIn
from notifier.workflows.conversation.core import STATUS_WORDS, localised
from notifier.workflows.privacy import PrivacyWorkflow
from tests.chat_drivers import TelegramDriver, ZaloDriver
from tests.fakes.bot_harness import CHAT, OTHER

# The one Vietnamese phrase an English text keeps: the name of the language to switch back to.
KEPT = ("Tiếng Việt",)


def vietnamese_letters(text: str) -> list[str]:
    """The letters of `text` that English does not have (đ, ư, ơ, ạ…): a sign of an untranslated line."""
    return sorted(
        {
            ch
            for ch in text
            if unicodedata.category(ch).startswith("L")
            and (ch in "đĐ" or unicodedata.normalize("NFD", ch) != ch)
        }
    )


def data_strings(value: Any) -> Iterator[str]:
    """Every text a sample context carries as data (names, addresses, the law's title), except the status
    names, which are words of the chatbot and must be translated."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from data_strings(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from data_strings(v)
    elif is_dataclass(value) and not isinstance(value, type):
        for f in fields(value):
            if f.name != "status_name":
                yield from data_strings(getattr(value, f.name))
    elif isinstance(value, SimpleNamespace):
        yield from data_strings(vars(value))


def test_the_letter_check_sees_vietnamese() -> None:
    assert vietnamese_letters("Hồ sơ đã được tiếp nhận") == sorted("ãđơượếậồ")
    assert vietnamese_letters("Application received — 1,500,000 VND") == []


@pytest.mark.parametrize("name", sorted(samples()))
def test_every_text_renders_in_both_languages_and_english_keeps_no_vietnamese(name: str) -> None:
    texts = BotTexts()
    for context in samples()[name]:
        vi = texts.render(name, language="vi", **localised("vi", context))
        en = texts.render(name, language="en", **localised("en", context))
        assert vi and en and vi != en
        left = en
        for data in sorted(set(data_strings(context)) | set(KEPT), key=len, reverse=True):
            left = left.replace(data, "")
        assert vietnamese_letters(left) == [], f"{name}: untranslated Vietnamese in {en!r}"


def test_status_names_are_the_portals_and_read_in_english() -> None:
    assert sorted(STATUS_WORDS) == sorted(STATUS_NAMES.values())
    for name in STATUS_WORDS:
        english = gettext("en", "chat", name)
        assert english != name and vietnamese_letters(english) == []


def test_amounts_and_dates_in_each_language() -> None:
    source = '{{ _("Hồ sơ đang chờ Ông/Bà thực hiện nghĩa vụ tài chính: %(amount)s.", amount=fee|money) }} {{ at|date }}'
    context = {"fee": 1_500_000, "at": datetime(2026, 12, 4, 23, 30, tzinfo=VN_TZ)}
    assert render(source, context, language="vi") == (
        "Hồ sơ đang chờ Ông/Bà thực hiện nghĩa vụ tài chính: 1.500.000 đồng. 04/12/2026"
    )
    assert render(source, context, language="en") == (
        "The application is waiting for you to pay the fees: 1,500,000 VND. 04/12/2026"
    )


@pytest.fixture
async def telegram(db_url: str, tmp_path: Path, clock: FixedClock) -> AsyncIterator[TelegramDriver]:
    driver = await TelegramDriver.start(db_url, tmp_path, clock)
    try:
        yield driver
    finally:
        await driver.stop()


async def test_telegrams_language_code_is_the_first_language_until_the_citizen_chooses(
    telegram: TelegramDriver,
) -> None:
    telegram.language_codes[OTHER] = "en-US"
    [hello] = await telegram.send_text(OTHER, "/start")
    assert hello.text.startswith("Hello Hương!\nThis is the Telegram channel of ")
    assert hello.menu_labels[-1] == "Tiếng Việt"
    [vi] = await telegram.send_text(OTHER, "/tiengviet")
    assert vi.text.startswith("Để tra cứu, vui lòng gửi mã hồ sơ")
    [still] = await telegram.send_text(OTHER, "/start")  # the app still says English: the choice wins
    assert still.text.startswith("Xin chào Hương!")
    [other_vi] = await telegram.send_text(CHAT, "/start")  # a Vietnamese app: Vietnamese
    assert other_vi.text.startswith("Xin chào Hương!")


async def test_the_choice_is_shared_by_every_process(telegram: TelegramDriver) -> None:
    await telegram.send_text(OTHER, "/english")
    # Another bot process (a new Conversation over the same database, with nothing in memory).
    fresh = Conversation.from_service(telegram.service, "another-process", texts_ttl=0)
    sender = Sender(Platform.TELEGRAM, chat_id=str(OTHER), user_id=str(OTHER), language="vi")
    out = await fresh.handle(TextIn(sender, "hello"), MemoryChatState())
    [reply] = out.replies
    assert reply.language == "en" and reply.text.startswith("To look up an application, send its code")


async def test_an_admins_edit_is_shown_to_vietnamese_chats_and_english_ones_keep_the_shipped_text(
    telegram: TelegramDriver,
) -> None:
    edited = (
        "Xin gửi mã hồ sơ kèm 4 số cuối điện thoại, ví dụ {{ 'MAHOSO' }} 5678. Đường dây nóng: 1900 1234."
    )
    with telegram.service.factory() as session, session.begin():
        save_text(session, "help", edited, "admin", telegram.service.clock.now())
    [vi] = await telegram.send_text(CHAT, "xin chào")
    assert (
        vi.text == "Xin gửi mã hồ sơ kèm 4 số cuối điện thoại, ví dụ MAHOSO 5678. Đường dây nóng: 1900 1234."
    )
    [en] = await telegram.send_text(OTHER, "English")
    assert en.text.startswith("To look up an application, send its code and the last 4 digits")


async def test_a_seeded_copy_of_an_old_file_does_not_hide_the_shipped_text(telegram: TelegramDriver) -> None:
    # A database seeded before a text changed holds the old file as version 1 (author "system").
    with telegram.service.factory() as session, session.begin():
        session.execute(
            update(Template)
            .where(Template.kind == "help", Template.channel_type == "bot")
            .values(body="Văn bản cũ của năm trước.")
        )
    [vi] = await telegram.send_text(CHAT, "xin chào")
    assert vi.text.startswith("Để tra cứu, vui lòng gửi mã hồ sơ và 4 số cuối số điện thoại")


async def test_the_language_is_in_the_chats_record_and_erased_with_it(telegram: TelegramDriver) -> None:
    await telegram.send_text(CHAT, "/english")
    await telegram.share_contact(CHAT, "0912345678")
    [asked] = await telegram.send_text(CHAT, "/xemdulieu")
    assert asked.text == (
        "Your request to see personal data is recorded as number 1.\nIt will be handled by 03/12/2026 at the latest."
    )
    workflow = PrivacyWorkflow.of(telegram.service)
    _, data = workflow.done(1, "admin")
    assert data["chat_languages"] == [
        {"chat_id": str(CHAT), "language": "en", "chosen_at": telegram.service.clock.now().isoformat()}
    ]
    await telegram.send_text(CHAT, "/xoadulieu")
    _, erased = workflow.done(2, "admin")
    assert erased["chat_languages"] == 1
    with telegram.service.factory() as session:
        assert session.scalar(select(func.count()).select_from(ChatPreference)) == 0


async def test_zalo_share_phone_button_in_english_asks_in_english(
    db_url: str, tmp_path: Path, clock: FixedClock
) -> None:
    zalo = await ZaloDriver.start(db_url, tmp_path, clock)
    try:
        [help_en] = await zalo.send_text(OTHER, "English")
        assert "Share my phone number" in help_en.menu_labels
        [ask] = await zalo.send_text(OTHER, "Share my phone number")  # the English menu button's text
        assert ask.text == "Application updates on Zalo"  # the request-user-info message's title
        [ask_vi] = await zalo.send_text(CHAT, "Chia sẻ số điện thoại")
        assert ask_vi.text == "Nhận thông báo hồ sơ qua Zalo"
    finally:
        await zalo.stop()


def test_every_english_string_of_the_catalog_is_english() -> None:
    # Python's strings (buttons, officers' replies) as well as the templates': none left in Vietnamese,
    # but the language's name and the example of a reason (written in Vietnamese: it goes on Mẫu 04).
    kept = (*KEPT, "Chờ ý kiến của cơ quan phối hợp")
    catalog = catalogs.load("en", "chat")
    assert catalog is not None
    for message in catalog:
        if not message.id:
            continue
        english = str(message.string)
        for phrase in kept:
            english = english.replace(phrase, "")
        assert vietnamese_letters(english) == [], f"{message.id!r} -> {message.string!r}"


async def test_zalo_link_codes_answer_in_the_chats_language(
    db_url: str, tmp_path: Path, clock: FixedClock
) -> None:
    from notifier.workflows.public_page import PublicPage
    from notifier.workflows.zalo_oa import new_link_code
    from tests.fakes.bot_harness import D1

    zalo = await ZaloDriver.start(db_url, tmp_path, clock)
    try:
        await zalo.send_text(OTHER, "English")
        [refused] = await zalo.send_text(OTHER, "LK WRONG123")
        assert (
            refused.text
            == "The link code is wrong or has expired. Please ask the administrator for a new one."
        )
        link = new_link_code(zalo.service, "CB01")
        [linked] = await zalo.send_text(OTHER, f"LK {link.code}")
        assert linked.text.startswith("This Zalo account is now linked to officer ")
        code = PublicPage(zalo.service).zalo_code(D1, "203.0.113.7")
        [subscribed] = await zalo.send_text(OTHER, f"LK {code.code}")
        assert subscribed.text.startswith(f"You will receive updates on application {D1} on Zalo.")
        [vi] = await zalo.send_text(CHAT, "LK WRONG123")  # a Vietnamese chat stays Vietnamese
        assert vi.text.startswith("Mã liên kết không đúng hoặc đã hết hạn.")
    finally:
        await zalo.stop()
