"""The lookup rules as plain functions: parsing, the phone-digit check, the throttle, the description."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from notifier.rules.clock import VN_TZ
from notifier.rules.dossier_view import DossierRecord, view_dossier
from notifier.rules.lookup import CitizenView, Query, Throttle, describe, digits_match, parse_query
from notifier.rules.workdays import WorkCalendar
from notifier.store.bot_texts import NAMES, load_text_files, samples, validate_text
from tests.conftest import T0
from tests.fakes.bot_harness import at


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("000.00.30.H26-261120-0001 5678", Query("000.00.30.H26-261120-0001", "5678")),
        ("  000.00.30.H26-261120-0001   5678 ", Query("000.00.30.H26-261120-0001", "5678")),
        ("000.00.30.H26-261120-0001, 5678", Query("000.00.30.H26-261120-0001", "5678")),
        (
            "000.00.30.h26-261120-0001 ５６７８",
            Query("000.00.30.h26-261120-0001", "5678"),
        ),  # full-width digits
        ("000.00.30.H26-261120-0001", Query("000.00.30.H26-261120-0001", None)),
        # As people type it: a full stop or quotes around the code, the keyword before it, spaces in it.
        ("000.00.30.H26-261120-0001.", Query("000.00.30.H26-261120-0001", None)),
        ("000.00.30.H26-261120-0001. 5678", Query("000.00.30.H26-261120-0001", "5678")),
        ("\u201c000.00.30.H26-261120-0001\u201d 5678", Query("000.00.30.H26-261120-0001", "5678")),
        ("TRACUU 000.00.30.H26-261120-0001 5678", Query("000.00.30.H26-261120-0001", "5678")),
        ("Tra cứu mã hồ sơ 000.00.30.H26-261120-0001", Query("000.00.30.H26-261120-0001", None)),
        ("000.00.30.H26 - 261120 - 0001 - 5678", Query("000.00.30.H26-261120-0001", "5678")),
        # The whole phone number instead of its last four digits: only those four are kept.
        ("000.00.30.H26-261120-0001 0912345678", Query("000.00.30.H26-261120-0001", "5678")),
        ("000.00.30.H26-261120-0001 091 234 5678", Query("000.00.30.H26-261120-0001", "5678")),
        ("000.00.30.H26-261120-0001 +84 912.345.678", Query("000.00.30.H26-261120-0001", "5678")),
        ("000.00.30.H26-261120-0001 84912345678", Query("000.00.30.H26-261120-0001", "5678")),
        ("000.00.30.H26-261120-0001 1234 5678", None),  # two numbers, neither a phone
        ("H26-0001 567", None),  # three digits
        ("0912345678", None),  # a phone number is not a dossier code
        ("xin chào", None),
        ("hello", None),  # no digit: chatter, not a code
        ("thanks 1234", None),
        ("Tra cứu hồ sơ", None),
        ("", None),
    ],
)
def test_parse_query(text: str, expected: Query | None) -> None:
    assert parse_query(text) == expected


def test_digits_match_only_the_last_four_of_the_applicants_phone() -> None:
    assert digits_match("+84912345678", "5678")
    assert not digits_match("+84912345678", "1234")
    assert not digits_match("+84912345678", "45678")
    assert not digits_match(None, "5678")
    assert not digits_match("not a phone", "5678")


def test_throttle_allows_guesses_up_to_the_limit_then_one_per_slowdown() -> None:
    t = Throttle(limit=3, window=timedelta(hours=1), slowdown=timedelta(minutes=5))
    fails = [T0 - timedelta(minutes=3), T0 - timedelta(minutes=2)]
    assert t.retry_at(*t.recent(fails, T0), T0) is None
    fails.append(T0 - timedelta(minutes=1))
    assert t.recent(fails, T0) == (3, T0 - timedelta(minutes=1))
    assert t.retry_at(*t.recent(fails, T0), T0) == T0 + timedelta(minutes=4)
    later = T0 + timedelta(minutes=4)
    assert t.retry_at(*t.recent(fails, later), later) is None
    # Failures older than the window no longer count.
    hour = T0 + timedelta(hours=1)
    assert t.recent(fails, hour) == (0, None)
    assert t.retry_at(0, None, hour) is None


CAL = WorkCalendar()


def _record(**overrides: object) -> DossierRecord:
    base: dict[str, object] = {
        "code": "X-1",
        "procedure_code": "1.001233",
        "procedure_name": "Thủ tục",
        "applicant_name": "Nguyễn Văn An",
        "applicant_kind": 1,
        "phone": "+84912345678",
        "email": None,
        "status": 4,
        "received_at": at(2026, 11, 20, 8, 30),
        "due_at": at(2026, 12, 4, 17, 0),
        "returned_at": None,
        "fee_amount": 200_000,
        "fee_paid": False,
        "payment_link": "https://dvc.example/pay",
        "supplement_note": "Giấy chứng nhận sức khỏe",
        "delay_reason": None,
        "apology_old_due_at": None,
        "apology_new_due_at": None,
    }
    base.update(overrides)
    return DossierRecord(**base)  # type: ignore[arg-type]


def _describe(
    apology_sent_at: datetime | None = None, new_appointment_sent_at: datetime | None = None, **overrides: object
) -> CitizenView:
    return describe(view_dossier(_record(**overrides), CAL, T0), apology_sent_at, new_appointment_sent_at)


def test_describe_counts_working_days_only_while_the_agency_holds_the_dossier() -> None:
    view = _describe()
    assert (view.working_days_left, view.working_days_overdue) == (3, None)
    assert view.phone_masked == "091****678"
    assert not view.payment_pending and view.fee_amount is None and view.payment_link is None
    assert view.supplement_note is None
    late = _describe(due_at=at(2026, 11, 25, 17, 0))
    assert (late.working_days_left, late.working_days_overdue) == (None, 4)
    waiting = _describe(status=5, due_at=at(2026, 11, 25, 17, 0))
    assert (waiting.working_days_left, waiting.working_days_overdue) == (None, None)
    assert waiting.supplement_note == "Giấy chứng nhận sức khỏe"


@pytest.mark.parametrize("status", [1, 3, 7, 8])
def test_describe_gives_no_appointment_for_a_dossier_not_received_or_ended_without_a_result(status: int) -> None:
    # 1: not received yet (the appointment is given on receipt, whatever date the portal sends before);
    # 3 refused, 7 withdrawn, 8 stopped: no result will be returned.
    assert _describe(status=status).due_at is None


@pytest.mark.parametrize("status", [2, 4, 5, 6, 9, 10])
def test_describe_keeps_the_appointment_of_a_received_dossier(status: int) -> None:
    assert _describe(status=status).due_at == at(2026, 12, 4, 17, 0)


def test_describe_shows_the_fee_only_when_payment_is_pending() -> None:
    pending = _describe(status=6)
    assert pending.payment_pending and pending.fee_amount == 200_000 and pending.payment_link
    paid = _describe(status=6, fee_paid=True)
    assert not paid.payment_pending and paid.fee_amount is None


def test_describe_reports_the_apology_and_its_new_date() -> None:
    new_due = at(2026, 12, 10, 17, 0)
    none_yet = _describe(apology_new_due_at=new_due)
    assert none_yet.apology_sent_at is None and none_yet.new_due_at is None
    sent = at(2026, 11, 26, 8, 0)
    view = _describe(sent, apology_new_due_at=new_due)
    assert view.apology_sent_at == sent and view.new_due_at == new_due
    # A follow-up that gave the date an apology had promised counts as the announcement too.
    follow_up = _describe(None, sent, apology_new_due_at=new_due)
    assert follow_up.apology_sent_at == sent and follow_up.new_due_at == new_due
    assert view.status_name == "Đang xử lý"
    assert view.received_at is not None and view.received_at.tzinfo is not None
    assert at(2026, 1, 1, 0, 0).tzinfo is VN_TZ


def test_every_bot_text_is_shipped_and_renders_its_samples() -> None:
    files = {f.kind: f.body for f in load_text_files()}
    assert set(files) == NAMES
    for name, body in files.items():
        assert validate_text(name, body) == [], name
    assert set(samples()) == NAMES


def test_validate_text_names_an_unknown_placeholder() -> None:
    [error] = validate_text("subscribed", "Đã đăng ký hồ sơ {{ ma_ho_so }}.")
    assert "ma_ho_so" in str(error)
    with pytest.raises(ValueError, match="unknown bot text"):
        validate_text("birthday", "x")
