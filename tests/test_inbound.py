"""Inbound SMS keywords: parsing is lenient about case, diacritics and spacing; handling is per number."""

from __future__ import annotations

import unicodedata
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from notifier.outbox.inbound import REPLY_OPT_IN, REPLY_OPT_OUT, Command, Handled, handle, parse
from notifier.rules.clock import FixedClock
from notifier.store.models import AuditEntry, Contact, InboundMessage
from notifier.workflows.conversation import Conversation
from notifier.workflows.conversation.sms import reply
from notifier.workflows.ingest import upsert
from notifier.workflows.service import Service
from tests.factories import dossier

CODE = "000.00.30.H26-261120-0001"


@pytest.mark.parametrize(
    "text",
    ["HUY", "huy", "Hủy", "HỦY", "huỷ", "  Huy.  ", "STOP", "stop", "Huy dich vu", unicodedata.normalize("NFD", "Hủy"),
     "TUCHOI", "Từ chối", "tu choi nhan tin", "TC", "tc", "TC."],
)
def test_opt_out_keywords(text: str) -> None:
    assert parse(text) == Command("opt_out")


@pytest.mark.parametrize("text", ["DK", "dk", "Đk", "ĐK", "Dang ky", "Đăng ký"])
def test_opt_in_keywords(text: str) -> None:
    assert parse(text) == Command("opt_in")


@pytest.mark.parametrize(
    ("text", "code"),
    [
        (f"TRACUU {CODE}", CODE),
        (f"tracuu   {CODE.lower()}", CODE),
        (f"Tra cứu {CODE}", CODE),
        (f"TRA CUU: {CODE}", CODE),
        (f"TC {CODE}", CODE),
        ("TRACUU", None),
    ],
)
def test_lookup_keyword_with_its_code(text: str, code: str | None) -> None:
    assert parse(text) == Command("lookup", code)


@pytest.mark.parametrize("text", ["", "   ", "xin chào", "HUYEN", "TRACUUX", "?"])
def test_anything_else_is_unknown(text: str) -> None:
    assert parse(text).action == "unknown"


def _seed(service: Service) -> None:
    with service.factory() as session, session.begin():
        report = upsert(session, [dossier(CODE, TrangThaiHoSo=4)], service.clock.now(), source="test")
        assert not report.errors


async def _sms(service: Service, channel: str, number: str, text: str, provider_id: str | None = None) -> Handled:
    """One inbound SMS as the webhook applies it: the conversation core answers, the exchange is logged."""
    answer = await reply(Conversation.from_service(service, "test"), number, text)
    with service.factory() as session, session.begin():
        return handle(session, channel, number, text, service.clock.now(), reply=answer, provider_id=provider_id)


async def test_lookup_answers_only_the_dossiers_own_phone(service: Service) -> None:
    _seed(service)
    own = await _sms(service, "sms", "+84912345678", f"tracuu {CODE.lower()}")
    other = await _sms(service, "sms", "+84987654321", f"TRACUU {CODE}")
    missing = await _sms(service, "sms", "+84912345678", "TRACUU 000.00.30.H26-999999-9999")
    assert own.reply == f"Hồ sơ {CODE}: Đang xử lý. Hẹn trả kết quả: 04/12/2026."
    assert own.reply == unicodedata.normalize("NFC", own.reply)
    # a stranger learns nothing about the dossier (the core asks for the 4 digits, whether it exists or not)
    assert other.reply.startswith(f"Không tìm thấy hồ sơ {CODE} gắn với số điện thoại này.")
    # the same words for a code that does not exist
    assert missing.reply == other.reply.replace(CODE, "000.00.30.H26-999999-9999")


async def test_lookup_of_a_refused_or_new_dossier_gives_no_appointment(service: Service) -> None:
    for status, name in ((3, "Không được tiếp nhận"), (1, "Mới đăng ký")):
        with service.factory() as session, session.begin():
            report = upsert(session, [dossier(CODE, TrangThaiHoSo=status)], service.clock.now(), source="test")
            assert not report.errors
        got = await _sms(service, "sms", "+84912345678", f"TRACUU {CODE}")
        assert got.reply == f"Hồ sơ {CODE}: {name}."


async def test_national_form_of_the_sender_is_accepted(service: Service) -> None:
    _seed(service)
    got = await _sms(service, "sms", "0912 345 678", f"TRACUU {CODE}")
    assert got.reply.startswith(f"Hồ sơ {CODE}: Đang xử lý.")


async def test_opt_out_then_in_is_recorded_and_audited(service: Service, clock: FixedClock) -> None:
    now = service.clock.now()
    out = await _sms(service, "sms_twilio", "+84912345678", "Hủy", provider_id="SM1")
    with service.factory() as session:
        contact = session.scalar(select(Contact).where(Contact.address == "+84912345678"))
        assert contact is not None and contact.medium == "sms" and contact.opted_out_at == now
    clock.advance(timedelta(days=1))
    later = service.clock.now()
    back = await _sms(service, "sms_twilio", "+84912345678", "DK", provider_id="SM2")
    with service.factory() as session:
        contact = session.scalar(select(Contact).where(Contact.address == "+84912345678"))
        assert contact is not None and contact.opted_out_at is None and contact.consent_at == later
        audit = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        assert [(a.actor, a.action) for a in audit] == [("citizen-sms", "bot.stop"), ("citizen-sms", "bot.resume")]
        assert all("+84912345678" not in (a.target or "") + (a.detail or "") for a in audit)  # masked
        assert [m.command for m in session.scalars(select(InboundMessage).order_by(InboundMessage.id))] == [
            "opt_out", "opt_in",
        ]
    assert (out.reply, back.reply) == (REPLY_OPT_OUT, REPLY_OPT_IN)


async def test_a_redelivered_message_is_answered_once(service: Service) -> None:
    first = await _sms(service, "sms", "+84912345678", "HUY", provider_id="SM9")
    with service.factory() as session, session.begin():
        again = handle(session, "sms", "+84912345678", "HUY", service.clock.now(), reply="-", provider_id="SM9")
    with service.factory() as session:
        rows = session.scalars(select(InboundMessage)).all()
    assert again.duplicate and again.reply == first.reply and again.inbound_id == first.inbound_id
    assert len(rows) == 1 and rows[0].command == "opt_out"


@pytest.mark.parametrize(
    ("text", "digits"),
    [
        (f"TRACUU {CODE} 5678", "5678"),
        (f"tra cứu {CODE.lower()}  5678.", "5678"),
        (f"TRACUU {CODE} 567", None),
        # The whole phone number instead of its last four digits: only those four are kept.
        (f"TRACUU {CODE} 0912345678", "5678"),
        (f"TRACUU {CODE} 0912 345 678", "5678"),
        (f"TRACUU {CODE} +84 912.345.678", "5678"),
    ],
)
def test_lookup_keyword_takes_the_last_four_digits(text: str, digits: str | None) -> None:
    assert parse(text) == Command("lookup", CODE, digits)


async def test_retention_empties_old_sms_and_a_late_redelivery_is_still_a_repeat(
    service: Service, clock: FixedClock
) -> None:
    """An SMS a citizen sent (their number, their words, our answer naming their dossier) went with no
    purge: after [retention] days the row keeps only channel, provider id, command and time."""
    from notifier.outbox.retention import PURGED, purge

    _seed(service)
    await _sms(service, "sms", "+84912345678", f"TRACUU {CODE}", provider_id="SM1")
    await _sms(service, "sms", "+84912345678", "HUY", provider_id="SM2")
    clock.advance(timedelta(days=60))
    await _sms(service, "sms", "+84987654321", "DK", provider_id="SM3")  # younger: kept
    with service.factory() as session, session.begin():
        purge(session, clock.now() + timedelta(days=29), 90)
    with service.factory() as session:
        rows = session.scalars(select(InboundMessage).order_by(InboundMessage.id)).all()
        kept = [(m.provider_id, m.sender, m.body, m.reply, m.command) for m in rows]
    assert [k[1] for k in kept] == ["+84912345678"] * 2 + ["+84987654321"]
    with service.factory() as session, session.begin():
        purge(session, clock.now() + timedelta(days=31), 90)
    with service.factory() as session:
        rows = session.scalars(select(InboundMessage).order_by(InboundMessage.id)).all()
        kept = [(m.provider_id, m.sender, m.body, m.reply, m.command) for m in rows]
    assert kept[:2] == [("SM1", "", PURGED, None, "lookup"), ("SM2", "", PURGED, None, "opt_out")]
    assert kept[2] == ("SM3", "+84987654321", "DK", REPLY_OPT_IN, "opt_in")
    # The provider re-sends SM2 late: recognised, not logged again.
    with service.factory() as session, session.begin():
        again = handle(session, "sms", "+84912345678", "HUY", clock.now(), reply="-", provider_id="SM2")
    assert again.duplicate and again.inbound_id == rows[1].id
    with service.factory() as session:
        assert session.scalar(select(func.count()).select_from(InboundMessage)) == 3
