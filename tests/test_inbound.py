"""Inbound SMS keywords: parsing is lenient about case, diacritics and spacing; handling is per number."""

from __future__ import annotations

import unicodedata
from datetime import timedelta

import pytest
from sqlalchemy import select

from notifier.outbox.inbound import REPLY_OPT_IN, REPLY_OPT_OUT, Command, handle, parse
from notifier.store.models import AuditEntry, Contact, InboundMessage
from notifier.workflows.ingest import upsert
from notifier.workflows.service import Service
from tests.factories import dossier

CODE = "000.00.30.H26-261120-0001"


@pytest.mark.parametrize(
    "text",
    ["HUY", "huy", "Hủy", "HỦY", "huỷ", "  Huy.  ", "STOP", "stop", "Huy dich vu", unicodedata.normalize("NFD", "Hủy")],
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


def test_lookup_answers_only_the_dossiers_own_phone(service: Service) -> None:
    _seed(service)
    now = service.clock.now()
    with service.factory() as session, session.begin():
        own = handle(session, "sms", "+84912345678", f"tracuu {CODE.lower()}", now, calendar=service.calendar)
        other = handle(session, "sms", "+84987654321", f"TRACUU {CODE}", now, calendar=service.calendar)
        missing = handle(session, "sms", "+84912345678", "TRACUU 000.00.30.H26-999999-9999", now, calendar=service.calendar)
    assert own.reply == f"Hồ sơ {CODE}: Đang xử lý. Hẹn trả kết quả: 04/12/2026."
    assert own.reply == unicodedata.normalize("NFC", own.reply)
    # a stranger learns nothing: same answer as for a code that does not exist
    assert other.reply == f"Không tìm thấy hồ sơ {CODE} gắn với số điện thoại này."
    assert missing.reply == "Không tìm thấy hồ sơ 000.00.30.H26-999999-9999 gắn với số điện thoại này."


def test_national_form_of_the_sender_is_accepted(service: Service) -> None:
    _seed(service)
    with service.factory() as session, session.begin():
        got = handle(session, "sms", "0912 345 678", f"TRACUU {CODE}", service.clock.now(), calendar=service.calendar)
    assert got.reply.startswith(f"Hồ sơ {CODE}: Đang xử lý.")


def test_opt_out_then_in_is_recorded_and_audited(service: Service) -> None:
    now = service.clock.now()
    with service.factory() as session, session.begin():
        out = handle(session, "sms_twilio", "+84912345678", "Hủy", now, provider_id="SM1", calendar=service.calendar)
    with service.factory() as session:
        contact = session.scalar(select(Contact).where(Contact.address == "+84912345678"))
        assert contact is not None and contact.medium == "sms" and contact.opted_out_at == now
        assert contact.source == "inbound:sms_twilio"
    later = now + timedelta(days=1)
    with service.factory() as session, session.begin():
        back = handle(session, "sms_twilio", "+84912345678", "DK", later, provider_id="SM2", calendar=service.calendar)
    with service.factory() as session:
        contact = session.scalar(select(Contact).where(Contact.address == "+84912345678"))
        assert contact is not None and contact.opted_out_at is None and contact.consent_at == later
        audit = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        assert [(a.actor, a.action) for a in audit] == [("citizen-sms", "opt_out"), ("citizen-sms", "opt_in")]
        assert "+84912345678" not in (audit[0].detail or "")  # masked in the audit trail
    assert (out.reply, back.reply) == (REPLY_OPT_OUT, REPLY_OPT_IN)


def test_a_redelivered_message_is_answered_once(service: Service) -> None:
    now = service.clock.now()
    with service.factory() as session, session.begin():
        first = handle(session, "sms", "+84912345678", "HUY", now, provider_id="SM9", calendar=service.calendar)
    with service.factory() as session, session.begin():
        again = handle(session, "sms", "+84912345678", "HUY", now, provider_id="SM9", calendar=service.calendar)
    with service.factory() as session:
        rows = session.scalars(select(InboundMessage)).all()
    assert again.duplicate and again.reply == first.reply and again.inbound_id == first.inbound_id
    assert len(rows) == 1 and rows[0].command == "opt_out"


@pytest.mark.parametrize(
    ("text", "digits"),
    [(f"TRACUU {CODE} 5678", "5678"), (f"tra cứu {CODE.lower()}  5678.", "5678"), (f"TRACUU {CODE} 567", None)],
)
def test_lookup_keyword_takes_the_last_four_digits(text: str, digits: str | None) -> None:
    assert parse(text) == Command("lookup", CODE, digits)
