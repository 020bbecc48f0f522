"""The one view of a dossier (rules.dossier_view) and the parts each use takes from it."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sqlalchemy import select

from notifier.outbox.inbound import reply_status
from notifier.outbox.views import dossier_ns, dossier_view
from notifier.rules.dossier_view import DossierRecord, view_dossier
from notifier.rules.lookup import Query, Throttle
from notifier.rules.workdays import WorkCalendar
from notifier.store.models import Dossier
from notifier.workflows.chat import BotStore
from notifier.workflows.dossier_status import dossier_status
from notifier.workflows.ingest import upsert
from notifier.workflows.service import Service
from tests.conftest import T0
from tests.factories import dossier, ts
from tests.fakes.bot_harness import at

CAL = WorkCalendar()
RECORD = DossierRecord(
    code="X-1",
    procedure_code="1.001233",
    procedure_name="Thủ tục",
    applicant_name="Công ty TNHH An Phát",
    applicant_kind=2,
    phone="+84912345678",
    email="an@example.vn",
    status=5,
    received_at=at(2026, 11, 20, 8, 30),
    due_at=at(2026, 11, 25, 17, 0),
    returned_at=None,
    fee_amount=200_000,
    fee_paid=False,
    payment_link="https://dvc.example/pay",
    supplement_note="Giấy chứng nhận sức khỏe",
    delay_reason=None,
    apology_old_due_at=None,
    apology_new_due_at=None,
)


def test_the_view_counts_days_always_and_tells_when_the_deadline_runs() -> None:
    waiting = view_dossier(RECORD, CAL, T0)
    assert (waiting.applicant_kind, waiting.phone_masked, waiting.status_name) == (
        "business",
        "091****678",
        "Yêu cầu bổ sung giấy tờ",
    )
    # Templates read the days as counted; the citizen and the API only while the agency holds the dossier.
    assert (waiting.working_days_left, waiting.working_days_overdue) == (None, 4)
    assert not waiting.deadline_running and (waiting.days_left, waiting.days_overdue) == (None, None)
    held = view_dossier(replace(RECORD, status=4), CAL, T0)
    assert held.deadline_running and (held.days_left, held.days_overdue) == (None, 4)
    assert not held.resolved and not held.payment_pending
    assert view_dossier(replace(RECORD, status=6), CAL, T0).payment_pending
    assert not view_dossier(replace(RECORD, status=6, fee_paid=True), CAL, T0).payment_pending
    assert view_dossier(replace(RECORD, status=10), CAL, T0).resolved
    assert view_dossier(replace(RECORD, phone=None, applicant_kind=1), CAL, T0).phone_masked is None


def test_the_view_knows_which_appointment_an_apology_moved() -> None:
    missed, new = at(2026, 11, 25, 17, 0), at(2026, 12, 10, 17, 0)
    plain = view_dossier(RECORD, CAL, T0)
    assert plain.missed_due_at == missed and plain.new_due_for(missed) is None
    moved = view_dossier(replace(RECORD, due_at=new, apology_old_due_at=missed, apology_new_due_at=new), CAL, T0)
    assert moved.missed_due_at == missed
    assert moved.new_due_for(missed) == new
    assert moved.new_due_for(missed - timedelta(days=7)) is None  # an earlier miss got no date from it


def test_every_use_shows_the_same_dossier(service: Service) -> None:
    """Templates, the status API and CLI, the chatbot and the SMS reply read one view of the stored row."""
    code = "000.00.30.H26-261120-0001"
    with service.factory() as session, session.begin():
        assert not upsert(session, [dossier(code, NgayHenTra=ts(2026, 11, 25, 17, 0))], T0, "test").errors
    with service.factory() as session:
        d = session.scalar(select(Dossier).where(Dossier.code == code))
        assert d is not None
        ns = dossier_ns(d, service.calendar, T0)
        sms = reply_status(dossier_view(d, service.calendar, T0))
        status = dossier_status(session, code, service.calendar, T0)
    store = BotStore(service.factory, service.calendar, Throttle(5, timedelta(minutes=5), timedelta(minutes=1)))
    found = store.lookup("chat-1", Query(code, "5678"), T0).found
    assert status is not None and found is not None
    chat = found.view
    assert ns.status_name == status["status_name"] == chat.status_name == "Đang xử lý"
    assert ns.phone_masked == status["phone"] == chat.phone_masked == "091****678"
    assert ns.due_at == chat.due_at == at(2026, 11, 25, 17, 0) and status["due_at"] == ns.due_at.isoformat()
    assert (ns.working_days_left, ns.working_days_overdue) == (None, 4)
    assert (status["working_days_left"], status["working_days_overdue"], status["overdue"]) == (None, 4, True)
    assert (chat.working_days_left, chat.working_days_overdue) == (None, 4)
    assert ns.fee_amount == status["fee_amount"] == 200_000 and chat.fee_amount is None  # not asked to pay
    assert sms == f"Hồ sơ {code}: Đang xử lý. Hẹn trả kết quả: 25/11/2026."
