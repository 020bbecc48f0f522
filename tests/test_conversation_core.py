"""The conversation core itself, without any platform: conversations of different platforms never share
links, signatures or opt-outs; group chats see nothing; buttons become numbered replies where there are
none; and the hook for flows added later."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from notifier.outbox.links import telegram_chat_ids
from notifier.rules.chat_keys import chat_id_of, conversation_key, platform_of
from notifier.rules.clock import FixedClock
from notifier.store.models import ChatLink, Contact, Notification
from notifier.workflows.conversation import (
    Button,
    ContactIn,
    Conversation,
    Follow,
    MemoryStates,
    Outcome,
    Platform,
    Press,
    Reply,
    Sender,
    TextIn,
    Unfollow,
    numbered,
)
from notifier.workflows.service import Service
from tests.conftest import migrated_service
from tests.fakes.bot_harness import D1, D3, queue_notice, seed

TG = Sender(Platform.TELEGRAM, "5001", "5001", "Hương")
ZALO = Sender(Platform.ZALO_OA, "5001", "5001", "Hương")  # the same digits, another platform


@pytest.fixture
def service(db_url: str, tmp_path: Path, clock: FixedClock) -> Iterator[Service]:
    svc = migrated_service(db_url, tmp_path, clock)
    seed(svc)
    yield svc
    svc.engine.dispose()


@pytest.fixture
def conv(service: Service) -> Conversation:
    return Conversation.from_service(service, "test-secret", texts_ttl=0)


def test_keys_keep_telegram_ids_bare_and_prefix_the_others() -> None:
    assert conversation_key("telegram", "5001") == "5001"
    assert conversation_key("zalo_oa", "5001") == "zalo_oa:5001"
    assert [platform_of(k) for k in ("5001", "-100200", "zalo_oa:5001")] == ["telegram", "telegram", "zalo_oa"]
    assert chat_id_of("zalo_oa:5001") == "5001" and chat_id_of("5001") == "5001"
    with pytest.raises(ValueError, match="chat_id"):
        conversation_key("zalo_oa", "")


async def test_a_link_on_one_platform_shows_nothing_on_another(conv: Conversation, service: Service) -> None:
    states = MemoryStates()
    linked = await conv.handle(ContactIn(TG, "0912345678", "5001"), states.of(TG))
    assert "091****678" in linked.replies[0].text and linked.replies[0].menu
    empty = await conv.handle(TextIn(ZALO, "/hoso"), states.of(ZALO))
    assert empty.replies[0].text.startswith("Chưa có hồ sơ nào liên kết với Zalo này.")
    ask = await conv.handle(TextIn(ZALO, D1), states.of(ZALO))
    assert D1 in ask.replies[0].text and "4 số cuối" in ask.replies[0].text  # asks for the digits
    zalo_link = await conv.handle(ContactIn(ZALO, "0987654321", "5001"), states.of(ZALO))
    assert "098****321" in zalo_link.replies[0].text
    with service.factory() as session:
        keys = sorted(session.scalars(select(ChatLink.chat_id)))
    assert keys == ["5001", "zalo_oa:5001"]


async def test_a_subscribe_button_works_only_in_the_conversation_it_was_given_to(conv: Conversation) -> None:
    states = MemoryStates()
    found = await conv.handle(TextIn(TG, f"{D1} 5678"), states.of(TG))
    [[button]] = found.replies[0].buttons
    assert button.label == "Nhận thông báo hồ sơ này qua Telegram" and len(button.payload or "") <= 64
    assert button.payload is not None
    stolen = await conv.handle(Press(ZALO, button.payload), states.of(ZALO))
    assert "không còn hiệu lực" in stolen.replies[0].text or "hết hạn" in stolen.replies[0].text
    ok = await conv.handle(Press(TG, button.payload), states.of(TG))
    assert ok.replies[0].text.startswith(f"Đã đăng ký nhận thông báo về hồ sơ {D1} qua Telegram.")
    zalo_found = await conv.handle(TextIn(ZALO, f"{D1} 5678"), states.of(ZALO))
    assert zalo_found.replies[0].buttons[0][0].label == "Nhận thông báo hồ sơ này qua Zalo"


async def test_a_group_chat_is_never_shown_a_dossier(conv: Conversation) -> None:
    group = Sender(Platform.TELEGRAM, "-100200", "5001", private=False)
    states = MemoryStates()
    assert await conv.handle(TextIn(group, f"{D1} 5678"), states.of(group)) == Outcome()
    assert await conv.handle(ContactIn(group, "0912345678", "5001"), states.of(group)) == Outcome()


async def test_follow_greets_and_unfollow_stops_notices_on_that_platform(
    conv: Conversation, service: Service
) -> None:
    states = MemoryStates()
    hello = await conv.handle(Follow(ZALO), states.of(ZALO))
    assert "trên Zalo" in hello.replies[0].text and hello.replies[0].menu
    assert await conv.handle(Unfollow(ZALO), states.of(ZALO)) == Outcome()
    with service.factory() as session:
        [row] = session.scalars(select(Contact)).all()
    assert (row.address, row.medium, row.opted_out_at is not None) == ("zalo_oa:5001", "zalo_oa", True)


async def test_a_number_vouched_for_by_the_platform_needs_no_digits(conv: Conversation) -> None:
    sms = Sender(Platform.SMS, "+84912345678", phone="+84912345678")
    found = await conv.handle(TextIn(sms, D1), MemoryStates().of(sms))
    assert found.replies[0].text.startswith(f"Hồ sơ {D1}\n")
    stranger = Sender(Platform.SMS, "+84900000000", phone="+84900000000")
    other = await conv.handle(TextIn(stranger, D3), MemoryStates().of(stranger))
    assert D3 in other.replies[0].text and "4 số cuối" in other.replies[0].text


async def test_flows_added_later_are_reached_by_their_command(conv: Conversation) -> None:
    seen: list[str] = []

    async def erase(event: TextIn, state: object) -> Outcome:
        seen.append(event.text)
        return Outcome((Reply("Đã nhận yêu cầu xóa dữ liệu."),))

    conv.extra_commands["xoadulieu"] = erase
    out = await conv.handle(TextIn(TG, "/xoadulieu"), MemoryStates().of(TG))
    assert seen == ["/xoadulieu"] and out.replies[0].text == "Đã nhận yêu cầu xóa dữ liệu."


def test_buttons_become_numbered_answers_where_a_platform_has_none() -> None:
    reply = Reply("Phản ánh về hồ sơ nào?", buttons=((Button("A", "d:fb:1:"),), (Button("Hủy", "fb:cancel"),)))
    text, answers = numbered(reply)
    assert text == "Phản ánh về hồ sơ nào?\n1. A\n2. Hủy"
    assert answers["2"].payload == "fb:cancel"


async def test_telegram_delivery_ignores_links_made_on_other_platforms(
    conv: Conversation, service: Service
) -> None:
    await conv.handle(ContactIn(ZALO, "0912345678", "5001"), MemoryStates().of(ZALO))
    n_id = queue_notice(service, D1)
    with service.factory() as session:
        n = session.get(Notification, n_id)
        assert n is not None
        assert telegram_chat_ids(session, [n]) == {}
    await conv.handle(ContactIn(TG, "0912345678", "5001"), MemoryStates().of(TG))
    with service.factory() as session:
        n = session.get(Notification, n_id)
        assert n is not None
        assert telegram_chat_ids(session, [n]) == {n_id: "5001"}
        # The Telegram link did not take the number from the Zalo conversation.
        active = {k: v for k, v in session.execute(select(ChatLink.chat_id, ChatLink.active))}
    assert active == {"zalo_oa:5001": True, "5001": True}
    # A second Telegram account sharing the number takes it over from the first (as before).
    other_tg = Sender(Platform.TELEGRAM, "5003", "5003")
    await conv.handle(ContactIn(other_tg, "0912345678", "5003"), MemoryStates().of(other_tg))
    with service.factory() as session:
        active = {k: v for k, v in session.execute(select(ChatLink.chat_id, ChatLink.active))}
    assert active == {"zalo_oa:5001": True, "5001": False, "5003": True}
