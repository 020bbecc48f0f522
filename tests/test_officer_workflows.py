"""The officers' workflows called as the interfaces call them: one method, a domain error naming the field and
the value, and each interface's own words for it (the officer's Vietnamese in the bot)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select, update

from notifier.bot.officer import refusal_text
from notifier.rules.clock import VN_TZ
from notifier.store.models import ApologySlip, AuditEntry, Dossier, DossierEvent
from notifier.web.deps import status_of
from notifier.workflows.dossier_status import DossierLookup
from notifier.workflows.errors import DomainError, InvalidInput, NotAllowed, NotFound, WrongState
from notifier.workflows.ingest import ImportWorkflow
from notifier.workflows.officer_actions import Actor, ApologyWorkflow, ResolveWorkflow
from notifier.workflows.reports import ReportWorkflow
from notifier.workflows.service import Service
from tests.factories import dossier, officers, ts

CB01_CHAT = 555001
OTHER = "000.00.31.H26"
REASON = "Chờ ý kiến của Sở Nông nghiệp và Môi trường"
CB01 = Actor("telegram", chat_id=CB01_CHAT)


def _seed(service: Service) -> None:
    staff = officers()
    staff[0]["TelegramChatId"] = str(CB01_CHAT)
    staff.append({"MaCanBo": "XD01", "HoTen": "Lê Văn Hải", "MaDonVi": OTHER, "TenDonVi": "Sở Xây dựng"})
    imports = ImportWorkflow(service)
    assert imports.officers(staff).ok
    report = imports.dossiers(
        [
            dossier("A", MaCanBo="CB01", NgayHenTra=ts(2026, 11, 30, 17, 0)),
            dossier("LATER", NgayHenTra=ts(2026, 12, 10, 17, 0)),
            dossier("DONE", TrangThaiHoSo=10, NgayTra=ts(2026, 11, 30, 9, 0), NgayHenTra=ts(2026, 11, 30, 17, 0)),
            dossier("P", TrangThaiHoSo=5, NgayHenTra=ts(2026, 11, 30, 17, 0)),
            dossier("X", MaDonVi=OTHER, TenDonVi="Sở Xây dựng", NgayHenTra=ts(2026, 11, 30, 17, 0)),
        ],
        "test",
    )
    assert report.ok, report.errors


def _refused(call: Callable[[], object]) -> DomainError:
    with pytest.raises(DomainError) as caught:
        call()
    return caught.value


def test_set_new_date_refusals_in_the_officers_words(svc: Service) -> None:
    _seed(svc)
    apology = ApologyWorkflow(svc)

    def new_date(code: str, when: object, reason: object = REASON, by: Actor = CB01) -> DomainError:
        return _refused(lambda: apology.set_new_date(code, when, reason, by))

    # (the refusal, its class, field, value, the officer's words in the chat)
    cases: list[tuple[DomainError, type[DomainError], str, object, str]] = [
        (new_date("A", ""), InvalidInput, "new_due", "", "Thiếu ngày hẹn mới."),
        (new_date("A", "31/02/2027"), InvalidInput, "new_due", "31/02/2027",
         "'31/02/2027' không phải ngày hợp lệ (dd/mm/yyyy)."),
        (new_date("A", "10/12/2026", "   "), InvalidInput, "reason", "   ",
         "Cần ghi lý do chậm trễ (lý do được in trên Mẫu 04)."),
        (new_date("A", "10/12/2026", "x" * 1001), InvalidInput, "reason", "x" * 40 + "…", "Lý do dài quá 1000 ký tự."),
        (new_date("A", "30/11/2026"), InvalidInput, "new_due", "30/11/2026 17:00",
         "Ngày hẹn mới phải sau thời điểm hiện tại."),
        (new_date("A", "12/12/2026"), InvalidInput, "new_due", "12/12/2026 17:00",
         "Ngày 12/12/2026 không phải ngày làm việc."),
        (new_date("LATER", "09/12/2026"), InvalidInput, "new_due", "09/12/2026 17:00",
         "Ngày hẹn mới phải sau ngày hẹn cũ (10/12/2026)."),
        (new_date("DONE", "10/12/2026"), WrongState, "TrangThaiHoSo", 10,
         "Hồ sơ đang ở trạng thái 'Đã trả kết quả', không thể hẹn lại ngày trả."),
        (new_date("NOPE", "10/12/2026"), NotFound, "MaHoSo", "NOPE", "Không tìm thấy hồ sơ NOPE."),
        (new_date("X", "10/12/2026"), NotAllowed, "MaCanBo", "CB01",
         "Đồng chí không thuộc cơ quan giải quyết hồ sơ X."),
    ]
    for exc, kind, field, value, words in cases:
        assert (type(exc), exc.field, exc.value) == (kind, field, value), exc
        assert refusal_text(exc) == f"Không thực hiện được: {words}"
    # A chat that is no officer's is told so plainly; an unknown officer code is bad input (the API's 422).
    stranger = new_date("A", "10/12/2026", by=Actor("telegram", chat_id=777))
    assert isinstance(stranger, NotAllowed) and (stranger.field, stranger.value) == ("TelegramChatId", 777)
    assert refusal_text(stranger) == "Tài khoản Telegram này chưa được đăng ký là cán bộ trên hệ thống nhắc việc."
    ghost = new_date("A", "10/12/2026", by=Actor("api", caller="portal", officer="GHOST"))
    assert isinstance(ghost, InvalidInput) and ghost.as_dict() == {
        "field": "officer", "value": "GHOST", "reason": "unknown officer code (MaCanBo)"
    }
    assert [status_of(e) for e in (cases[0][0], cases[7][0], cases[8][0], cases[9][0])] == [422, 409, 404, 403]
    with svc.factory() as session:
        assert session.scalar(select(ApologySlip)) is None  # nothing refused left a trace
        assert session.scalars(select(AuditEntry.action)).all() == []


def test_a_new_date_then_the_same_one_and_a_dossier_without_appointment(svc: Service) -> None:
    _seed(svc)
    apology = ApologyWorkflow(svc)
    done = apology.set_new_date("A", "10/12/2026", f" {REASON} ", CB01)
    assert (done.code, done.number, done.corrected, done.reason) == ("A", "01/VBXL", False, REASON)
    assert done.old_due_at == datetime(2026, 11, 30, 17, 0, tzinfo=VN_TZ)
    assert done.new_due_at == datetime(2026, 12, 10, 17, 0, tzinfo=VN_TZ)
    same = _refused(lambda: apology.set_new_date("A", "10/12/2026", REASON, CB01))
    assert isinstance(same, InvalidInput) and refusal_text(same) == "Không thực hiện được: Hồ sơ đã có đúng ngày hẹn này."
    with svc.factory() as session, session.begin():
        session.execute(update(Dossier).where(Dossier.code == "LATER").values(due_at=None))
    none = _refused(lambda: apology.set_new_date("LATER", "15/12/2026", REASON, CB01))
    assert isinstance(none, WrongState) and (none.field, none.value) == ("NgayHenTra", None)
    assert refusal_text(none) == "Không thực hiện được: Hồ sơ chưa có ngày hẹn trả để hẹn lại."
    with svc.factory() as session:
        audit = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
    assert [(a.action, a.actor, a.target) for a in audit] == [("apology.issued", "telegram:CB01", "A")]


def test_resolve_refusals_and_who_acted(svc: Service) -> None:
    _seed(svc)
    resolve = ResolveWorkflow(svc)
    done = resolve.resolve("A", Actor("api", caller="portal", officer="CB01"), note="Đã ký")
    assert (done.code, done.status, done.at) == ("A", 9, svc.clock.now())
    again = _refused(lambda: resolve.resolve("A", CB01))
    assert isinstance(again, WrongState) and (again.field, again.value) == ("TrangThaiHoSo", 9)
    assert refusal_text(again) == "Không thực hiện được: Hồ sơ A đã được ghi nhận xử lý xong trước đó."
    paused = _refused(lambda: resolve.resolve("P", CB01))
    assert isinstance(paused, WrongState) and paused.value == 5
    assert refusal_text(paused) == (
        "Không thực hiện được: Hồ sơ đang ở trạng thái 'Yêu cầu bổ sung giấy tờ', không thể ghi nhận xử lý xong."
    )
    with svc.factory() as session:
        [event] = session.scalars(select(DossierEvent).where(DossierEvent.to_status == 9)).all()
        audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "dossier.resolved")).all()
    assert (event.source, event.detail) == ("api", "Đã ký")
    assert [a.actor for a in audit] == ["api:portal:CB01"]


def test_may_act_names_the_dossier_of_a_button(svc: Service) -> None:
    _seed(svc)
    with svc.factory() as session:
        ids = dict(session.execute(select(Dossier.code, Dossier.id)).all())
    apology = ApologyWorkflow(svc)
    assert apology.may_act(ids["A"], CB01) == "A"
    other = _refused(lambda: apology.may_act(ids["X"], CB01))
    assert isinstance(other, NotAllowed) and other.facts == {"dossier": "X"}
    gone = _refused(lambda: apology.may_act(10**9, CB01))
    assert isinstance(gone, NotFound) and (gone.field, gone.value) == ("id", 10**9)
    assert refusal_text(gone) == "Không thực hiện được: Không tìm thấy hồ sơ."


def test_slips_lookups_and_reports_refuse_naming_the_field(svc: Service) -> None:
    _seed(svc)
    apology = ApologyWorkflow(svc)
    missing = _refused(lambda: apology.slip("A"))
    assert isinstance(missing, NotFound) and missing.as_dict() == {"field": "MaHoSo", "value": "A", "reason": "no apology slip"}
    apology.set_new_date("A", "10/12/2026", REASON, Actor("cli"))
    page = apology.slip("A")
    assert page.number == "01/VBXL" and page.media_type == "text/html" and "Số: 01/VBXL" in page.content.decode("utf-8")
    numbered = _refused(lambda: apology.slip("A", "9/PXL"))
    assert isinstance(numbered, NotFound) and numbered.reason == "no apology slip numbered '9/PXL'"

    assert DossierLookup(svc).status("A")["status_name"] == "Đang xử lý"
    unknown = _refused(lambda: DossierLookup(svc).status("NOPE"))
    assert isinstance(unknown, NotFound) and str(unknown) == "field MaHoSo: value 'NOPE': not found"

    reports = ReportWorkflow(svc)
    assert reports.monthly("2026-12", "csv").filename == "bao-cao-20261201-20261231.csv"
    for call, expected in [
        (lambda: reports.monthly("2026-13"), ("month", "2026-13", "month must be 1-12")),
        (lambda: reports.monthly("2026-12", "pdf"), ("format", "pdf", "expected one of json, csv, xlsx, html")),
        (lambda: reports.span("2026-06-30", "2026-01-01"), ("to", "2026-01-01", "before from '2026-06-30'")),
        (lambda: reports.span("a: b", "2026-01-01"), ("from", "a: b", "expected a date like 2026-07-01 or 01/07/2026")),
    ]:
        exc = _refused(call)
        assert isinstance(exc, InvalidInput) and (exc.field, exc.value, exc.reason) == expected


def test_imports_tell_progress_items_from_dossiers(svc: Service, tmp_path: Path) -> None:
    _seed(svc)
    imports = ImportWorkflow(svc)
    item = {
        "MaHoSo": "A",
        "PhongBanXuLy": "Phòng Quản lý đất đai",
        "NgayBatDau": ts(2026, 11, 20, 8, 0),
        "NgayKetThucTheoQuyDinh": ts(2026, 11, 27, 17, 0),
    }
    found = imports.portal_items([item], "test")
    assert found.progress and found.report.created == 1
    forced = imports.portal_items([{"MaHoSo": "A"}], "test", progress=True)
    assert forced.progress and {e.field for e in forced.report.errors} == {"PhongBanXuLy", "NgayBatDau"}
    plain = imports.portal_items([dossier("NEW")], "test")
    assert not plain.progress and plain.report.created == 1
