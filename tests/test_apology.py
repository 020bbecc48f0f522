"""The apology workflow: new date + reason moves the appointment, a numbered slip, one apology, printing."""

from __future__ import annotations

import asyncio
import html
import json
import re
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from notifier.rules.clock import VN_TZ, FixedClock
from notifier.store.apikeys import create_key
from notifier.store.models import ApologySlip, AuditEntry, Dossier, Notification
from notifier.web.api import create_app
from notifier.workflows.apology import (
    PdfUnavailable,
    find_font,
    has_vietnamese,
    render_slip_html,
    render_slip_pdf,
    slip_context,
)
from notifier.workflows.ingest import upsert
from notifier.workflows.officer_import import upsert_officers
from notifier.workflows.service import Service
from tests.cli_process import run_notifier
from tests.conftest import chat_service, migrated_service
from tests.factories import dossier, officers, ts

OTHER = "000.00.31.H26"


def _seed(service: Service, *items: dict) -> None:
    staff = [
        *officers(),
        {"MaCanBo": "XD01", "HoTen": "Lê Văn Hải", "MaDonVi": OTHER, "TenDonVi": "Sở Xây dựng thành phố Hải Phòng"},
    ]
    with service.factory() as session, session.begin():
        assert not upsert_officers(session, staff).errors
        report = upsert(session, list(items), service.clock.now(), source="test")
        assert not report.errors, report.errors


def _client(service: Service) -> tuple[TestClient, dict[str, str]]:
    with service.factory() as session, session.begin():
        key = create_key(session, "portal", service.clock.now())
    return TestClient(create_app(service)), {"Authorization": f"Bearer {key}"}


def _slips(service: Service) -> list[ApologySlip]:
    with service.factory() as session:
        return list(session.scalars(select(ApologySlip).order_by(ApologySlip.id)))


def _kind(service: Service, kind: str) -> list[Notification]:
    with service.factory() as session:
        return list(session.scalars(select(Notification).where(Notification.kind == kind).order_by(Notification.id)))


def _rows(service: Service) -> list[tuple[str, str, str, str | None]]:
    """What became of every notification: the assertion message when a message is missing from the file."""
    with service.factory() as session:
        found = session.scalars(select(Notification).order_by(Notification.id))
        return [(n.kind, n.audience, n.status, n.error) for n in found]


def _outbox(service: Service, tmp_path: Path) -> list[dict]:
    asyncio.run(service.dispatcher.drain())
    path = tmp_path / "outbox.jsonl"
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


REASON = "Chờ ý kiến của Sở Nông nghiệp và Môi trường"


def test_api_apology_moves_the_date_issues_a_slip_and_the_citizen_gets_one_apology(svc: Service, tmp_path: Path) -> None:
    # Due Monday 30/11 17:00; now Tuesday 01/12 09:00.
    _seed(svc, dossier("A", MaCanBo="CB01", NgayHenTra=ts(2026, 11, 30, 17, 0)))
    client, auth = _client(svc)
    resp = client.post(
        "/api/v1/dossiers/A/apology", json={"new_due": "10/12/2026", "reason": f"  {REASON} ", "officer": "CB01"}, headers=auth
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["number"] == "01/VBXL" and body["corrected"] is False
    assert body["old_due_at"] == "2026-11-30T17:00:00+07:00" and body["new_due_at"] == "2026-12-10T17:00:00+07:00"

    with svc.factory() as session:
        d = session.scalar(select(Dossier).where(Dossier.code == "A"))
        assert d is not None
        assert d.due_at == datetime(2026, 12, 10, 17, 0, tzinfo=VN_TZ)
        assert d.apology_old_due_at == datetime(2026, 11, 30, 17, 0, tzinfo=VN_TZ)
        assert d.apology_new_due_at == d.due_at and d.apology_set_at == svc.clock.now()
        assert d.delay_reason == REASON
        audit = session.scalars(select(AuditEntry).where(AuditEntry.target == "A")).all()
    [slip] = _slips(svc)
    assert (slip.number, slip.seq, slip.year, slip.dossier_code, slip.addressee) == ("01/VBXL", 1, 2026, "A", "Nguyễn Văn An")
    assert slip.agency_name == "Sở Tư pháp thành phố Hải Phòng"
    assert slip.procedure_name == "Cấp Thẻ công chứng viên"
    assert slip.received_at == datetime(2026, 11, 20, 8, 30, tzinfo=VN_TZ)
    assert slip.reason == REASON and slip.signer_name == "Phạm Quốc Hùng" and slip.source == "api"
    # The printed document closes "Lý do: …." itself: the officer's own closing mark goes, whichever it is
    # (it printed "…?." and "…;.").
    for typed in (f"{REASON}.", f"{REASON}?", f"{REASON} ;", f"{REASON}…", f"{REASON}!"):
        slip.reason = typed
        assert slip_context(slip, "Hải Phòng")["reason"] == REASON
    assert [(a.action, a.actor) for a in audit] == [("apology.issued", "api:portal:CB01")]
    assert json.loads(audit[0].detail or "{}")["number"] == "01/VBXL"

    svc.scan()
    svc.scan()
    [apology] = _kind(svc, "overdue_apology")
    assert apology.ref_at == datetime(2026, 11, 30, 17, 0, tzinfo=VN_TZ)
    sent = [x for x in _outbox(svc, tmp_path) if x["dossier_code"] == "A" and x["audience"] == "citizen"]
    # The apology carried the date: no follow-up. (This once came back empty on a loaded machine; the rows
    # say why if it does again.)
    assert [x["kind"] for x in sent] == ["overdue_apology"], _rows(svc)
    text = sent[0]["text"]
    assert "Văn bản xin lỗi và đề nghị gia hạn thời gian giải quyết số: 01/VBXL ngày 01/12/2026\n" in text
    assert "Ngày hẹn trả kết quả trước đây: 30/11/2026" in text
    assert f"Lý do: {REASON}." in text
    assert "Ngày hẹn trả kết quả mới: 10/12/2026" in text
    svc.scan()
    assert _kind(svc, "new_appointment") == []


def test_the_apology_e_mail_held_overnight_is_dated_as_the_printed_document(db_url: str, tmp_path: Path, clock: FixedClock) -> None:
    # Mẫu 04 issued at 21:30 on 02/12 (quiet hours: the e-mail waits until 07:00 on 03/12). The e-mail gave the
    # document's number but no date of its own, only "Ngày gửi thư: 03/12/2026"; the printed document says
    # "ngày 02 tháng 12 năm 2026". The e-mail must give the document's date, the printed one.
    channels = {"file": {"path": str(tmp_path / "outbox.jsonl"), "template": "email"}, "console": {}}
    svc = migrated_service(db_url, tmp_path, clock, channels=channels)
    try:
        clock.set(datetime(2026, 12, 2, 21, 30, tzinfo=VN_TZ))
        _seed(svc, dossier("A", MaCanBo="CB01", NgayHenTra=ts(2026, 12, 3, 17, 0)))
        client, auth = _client(svc)
        resp = client.post("/api/v1/dossiers/A/apology", json={"new_due": "10/12/2026", "reason": REASON}, headers=auth)
        assert resp.status_code == 200, resp.text
        svc.scan()
        assert [x for x in _outbox(svc, tmp_path) if x["kind"] == "overdue_apology"] == []  # quiet hours
        clock.set(datetime(2026, 12, 3, 7, 30, tzinfo=VN_TZ))
        svc.scan()
        [sent] = [x for x in _outbox(svc, tmp_path) if x["kind"] == "overdue_apology"]
        [slip] = _slips(svc)
        printed = html.unescape(render_slip_html(slip, "Hải Phòng"))
    finally:
        svc.engine.dispose()
    assert "Hải Phòng, ngày 02 tháng 12 năm 2026" in printed and "Số: 01/VBXL" in printed
    assert slip_context(slip, "Hải Phòng")["issued"] == "02/12/2026"
    lines = sent["text"].splitlines()
    assert lines[lines.index("Số: 01/VBXL") + 1] == "Ngày lập: 02/12/2026"
    assert "Ngày gửi thư: 03/12/2026" in lines


def test_a_missed_date_gets_the_honest_notice_and_a_late_mau_04_its_own_message(svc: Service, clock: FixedClock, tmp_path: Path) -> None:
    _seed(svc, dossier("A", MaCanBo="CB01", NgayHenTra=ts(2026, 11, 30, 17, 0)))
    svc.scan()
    first = _outbox(svc, tmp_path)
    # No Mẫu 04 was issued: the citizen is told the fact, which is not called an apology.
    assert [x["kind"] for x in first if x["audience"] == "citizen"] == ["overdue_notice"]
    notice = next(x["text"] for x in first if x["kind"] == "overdue_notice")
    assert "chưa có kết quả đúng hẹn" in notice and "xin lỗi" not in notice.lower()
    assert "Mẫu 04" not in notice and "Cơ quan sẽ thông báo ngày hẹn trả kết quả mới" in notice
    clock.advance(timedelta(hours=2))
    client, auth = _client(svc)
    resp = client.post("/api/v1/dossiers/A/apology", json={"NgayHenTraMoi": "20261211160000", "LyDoTreHan": REASON}, headers=auth)
    assert resp.status_code == 200, resp.text
    svc.scan()
    svc.scan()
    # The late Mẫu 04 carries its date itself: no follow-up about a date.
    assert _kind(svc, "new_appointment") == []
    sent = [x for x in _outbox(svc, tmp_path) if x["kind"] == "overdue_apology"]
    assert len(sent) == 1 and "Ngày hẹn trả kết quả mới: 11/12/2026" in sent[0]["text"]
    assert [n.ref_at for n in _kind(svc, "overdue_apology")] == [datetime(2026, 11, 30, 17, 0, tzinfo=VN_TZ)]
    assert len(_kind(svc, "overdue_notice")) == 1


def test_a_queued_overdue_alert_about_the_moved_appointment_is_cancelled(svc: Service) -> None:
    _seed(svc, dossier("A", MaCanBo="CB01", NgayHenTra=ts(2026, 11, 30, 17, 0)))
    svc.scan()
    [alert] = _kind(svc, "overdue_alert")
    assert alert.status == "queued"
    client, auth = _client(svc)
    assert client.post("/api/v1/dossiers/A/apology", json={"new_due": "10/12/2026", "reason": REASON}, headers=auth).status_code == 200
    [alert] = _kind(svc, "overdue_alert")
    assert alert.status == "cancelled" and "new appointment" in (alert.error or "")
    [notice] = _kind(svc, "overdue_notice")
    assert notice.status == "queued"  # the citizen's notice still goes out, now showing the new date
    svc.scan()
    [apology] = _kind(svc, "overdue_apology")
    assert apology.status == "queued"


def test_slips_are_numbered_per_agency_and_year(db_url: str, tmp_path: Path, clock: FixedClock) -> None:
    svc = chat_service(db_url, tmp_path, clock, apology={"number_format": "{seq:02d}/PXL-{year}"})
    try:
        _seed(
            svc,
            dossier("A1", NgayHenTra=ts(2026, 11, 30, 17, 0)),
            dossier("A2", NgayHenTra=ts(2026, 11, 27, 17, 0)),
            dossier("B1", MaDonVi=OTHER, TenDonVi="Sở Xây dựng thành phố Hải Phòng", NgayHenTra=ts(2026, 11, 30, 17, 0)),
        )
        client, auth = _client(svc)
        for code in ("A1", "B1", "A2"):
            resp = client.post(f"/api/v1/dossiers/{code}/apology", json={"new_due": "2026-12-15", "reason": REASON}, headers=auth)
            assert resp.status_code == 200, resp.text
        clock.set(datetime(2027, 1, 4, 9, 0, tzinfo=VN_TZ))
        with svc.factory() as session, session.begin():
            upsert(session, [dossier("A3", NgayTiepNhan=ts(2026, 12, 20, 8, 0), NgayHenTra=ts(2026, 12, 31, 17, 0))], clock.now(), "t")
        assert client.post("/api/v1/dossiers/A3/apology", json={"new_due": "08/01/2027", "reason": REASON}, headers=auth).status_code == 200
        assert [(s.dossier_code, s.number) for s in _slips(svc)] == [
            ("A1", "01/PXL-2026"),
            ("B1", "01/PXL-2026"),
            ("A2", "02/PXL-2026"),
            ("A3", "01/PXL-2027"),
        ]
    finally:
        svc.engine.dispose()


def test_correcting_a_date_that_has_not_come_updates_the_same_slip(svc: Service, clock: FixedClock) -> None:
    _seed(svc, dossier("A", NgayHenTra=ts(2026, 11, 30, 17, 0)))
    client, auth = _client(svc)
    assert client.post("/api/v1/dossiers/A/apology", json={"new_due": "10/12/2026", "reason": REASON}, headers=auth).status_code == 200
    svc.scan()
    clock.advance(timedelta(hours=1))
    resp = client.post("/api/v1/dossiers/A/apology", json={"new_due": "11/12/2026 10:00", "reason": "Chờ ký duyệt"}, headers=auth)
    assert resp.status_code == 200 and resp.json()["corrected"] is True and resp.json()["number"] == "01/VBXL"
    assert resp.json()["compliant"] is True  # a correction is not a further extension
    [slip] = _slips(svc)
    assert slip.new_due_at == datetime(2026, 12, 11, 10, 0, tzinfo=VN_TZ) and slip.reason == "Chờ ký duyệt"
    assert slip.old_due_at == datetime(2026, 11, 30, 17, 0, tzinfo=VN_TZ) and slip.corrected_at == clock.now()
    with svc.factory() as session:
        actions = session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions == ["apology.issued", "apology.corrected"]
    # The corrected date is missed as well: that is a second apology with its own slip.
    clock.set(datetime(2026, 12, 14, 9, 0, tzinfo=VN_TZ))
    second = client.post("/api/v1/dossiers/A/apology", json={"new_due": "18/12/2026", "reason": REASON}, headers=auth)
    assert second.status_code == 200
    # The rules allow one extension: the second is recorded, and the officer is told it is not compliant.
    assert second.json()["extension_no"] == 2 and second.json()["compliant"] is False
    assert "not compliant" in second.json()["warning"]
    slips = _slips(svc)
    assert [s.extension_no for s in slips] == [1, 2]
    assert [(s.number, s.old_due_at.day, s.new_due_at.day) for s in slips] == [("01/VBXL", 30, 11), ("02/VBXL", 11, 18)]
    svc.scan()
    assert sorted(n.ref_at.day for n in _kind(svc, "overdue_apology") if n.ref_at) == [11, 30]


def test_bad_requests_are_refused_naming_the_field_and_change_nothing(svc: Service) -> None:
    _seed(
        svc,
        dossier("A", MaCanBo="CB01", NgayHenTra=ts(2026, 11, 30, 17, 0)),
        dossier("LATER", NgayHenTra=ts(2026, 12, 10, 17, 0)),
        dossier("DONE", TrangThaiHoSo=10, NgayTra=ts(2026, 11, 30, 9, 0), NgayHenTra=ts(2026, 11, 30, 17, 0)),
    )
    client, auth = _client(svc)

    def post(code: str, body: dict) -> tuple[int, dict]:
        resp = client.post(f"/api/v1/dossiers/{code}/apology", json=body, headers=auth)
        return resp.status_code, resp.json()["detail"][0] if resp.status_code != 200 else resp.json()

    assert post("NOPE", {"new_due": "10/12/2026", "reason": REASON}) == (404, {"field": "MaHoSo", "value": "NOPE", "reason": "not found"})
    status, err = post("A", {"new_due": "30/11/2026", "reason": REASON})
    assert status == 422 and err["field"] == "new_due" and "future" in err["reason"]
    status, err = post("A", {"new_due": "12/12/2026", "reason": REASON})  # a Saturday
    assert status == 422 and err["value"] == "12/12/2026 17:00" and "not a working day" in err["reason"]
    status, err = post("A", {"new_due": "31/02/2027", "reason": REASON})
    assert status == 422 and err["field"] == "new_due" and err["value"] == "31/02/2027"
    status, err = post("A", {"new_due": "10/12/2026", "reason": "   "})
    assert status == 422 and err["field"] == "reason"
    status, err = post("A", {"reason": REASON})
    assert status == 422 and err["field"] == "new_due"
    status, err = post("LATER", {"new_due": "09/12/2026", "reason": REASON})
    assert status == 422 and "later than the appointment being missed (10/12/2026 17:00)" in err["reason"]
    status, err = post("DONE", {"new_due": "10/12/2026", "reason": REASON})
    assert status == 409 and err["field"] == "TrangThaiHoSo" and err["value"] == 10
    status, err = post("A", {"new_due": "10/12/2026", "reason": REASON, "officer": "XD01"})
    assert status == 403 and err == {"field": "MaCanBo", "value": "XD01", "reason": "not an officer of the agency handling A"}
    status, err = post("A", {"new_due": "10/12/2026", "reason": REASON, "officer": "GHOST"})
    assert status == 422 and err["field"] == "officer"
    assert client.post("/api/v1/dossiers/A/apology", content=b"[1]", headers=auth).status_code == 422
    assert client.post("/api/v1/dossiers/A/apology", json={"new_due": "10/12/2026", "reason": REASON}).status_code == 401
    assert _slips(svc) == []
    with svc.factory() as session:
        d = session.scalar(select(Dossier).where(Dossier.code == "A"))
        assert d is not None and d.due_at == datetime(2026, 11, 30, 17, 0, tzinfo=VN_TZ) and d.apology_new_due_at is None


def test_a_new_date_from_the_portal_gets_its_slip_from_the_scan(svc: Service, clock: FixedClock) -> None:
    _seed(svc, dossier("A", NgayHenTra=ts(2026, 11, 30, 17, 0)))
    clock.advance(timedelta(minutes=30))
    with svc.factory() as session, session.begin():
        upsert(session, [dossier("A", NgayHenTra=ts(2026, 12, 8, 17, 0), LyDoTreHan="Hệ thống liên thông gián đoạn")], clock.now(), "t")
    svc.scan()
    svc.scan()
    [slip] = _slips(svc)
    assert (slip.number, slip.source, slip.issued_by) == ("01/VBXL", "ingest", "portal")
    assert slip.reason == "Hệ thống liên thông gián đoạn"
    assert slip.old_due_at == datetime(2026, 11, 30, 17, 0, tzinfo=VN_TZ)
    assert slip.new_due_at == datetime(2026, 12, 8, 17, 0, tzinfo=VN_TZ)
    assert slip.issued_at == clock.now()


def _cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_notifier(cwd, *args)


def test_cli_sets_and_prints_the_slip_as_html_and_pdf(db_url: str, tmp_path: Path, clock: FixedClock) -> None:
    svc = chat_service(db_url, tmp_path, clock)
    try:
        _seed(svc, dossier("000.00.30.H26-261120-0001", MaCanBo="CB01", NgayHenTra=ts(2026, 11, 30, 17, 0)))
    finally:
        svc.engine.dispose()
    (tmp_path / "config.toml").write_text(f'[database]\nurl = "{db_url}"\n', encoding="utf-8")
    code = "000.00.30.H26-261120-0001"
    reason = "<script>alert(1)</script> chờ ký duyệt & đóng dấu"
    done = _cli(tmp_path, "apology", "set", code, "--date", "10/12/2026", "--reason", reason, "--officer", "CB01", "--now", "2026-12-01T09:00")
    assert done.returncode == 0, done.stderr
    assert "Mẫu 04 01/VBXL issued" in done.stdout and "NOT COMPLIANT" not in done.stdout
    bad = _cli(tmp_path, "apology", "set", code, "--date", "05/12/2026", "--reason", "x", "--now", "2026-12-01T09:00")
    assert bad.returncode == 1 and "field new_due: value '05/12/2026 17:00': not a working day" in bad.stderr

    printed = _cli(tmp_path, "apology", "print", code, "--out", "slip.html")
    assert printed.returncode == 0, printed.stderr
    page = (tmp_path / "slip.html").read_text(encoding="utf-8")
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; chờ ký duyệt &amp; đóng dấu" in page
    text = html.unescape(page)
    for expected in (
        "VĂN BẢN XIN LỖI VÀ ĐỀ NGHỊ GIA HẠN THỜI GIAN GIẢI QUYẾT",
        "SỞ TƯ PHÁP THÀNH PHỐ HẢI PHÒNG",
        "Số: 01/VBXL",
        "Hải Phòng, ngày 01 tháng 12 năm 2026",
        "Kính gửi: Ông/Bà Nguyễn Văn An",
        f"mã hồ sơ (số biên nhận) {code}",
        "thủ tục Cấp Thẻ công chứng viên",
        "tiếp nhận lúc 08:30 20/11/2026",
        "ngày hẹn trả kết quả: 30/11/2026",
        "hẹn trả kết quả vào ngày 10 tháng 12 năm 2026",
        "Phạm Quốc Hùng",
        "091****678",
        "- Như trên;",
        "- Lưu: VT.",
    ):
        assert expected in text, expected
    assert "0912345678" not in text  # the printed phone is masked
    to_stdout = _cli(tmp_path, "apology", "print", code)
    assert to_stdout.returncode == 0 and "Số: 01/VBXL" in to_stdout.stdout

    pdf = _cli(tmp_path, "apology", "print", code, "--pdf", "--out", "slip.pdf")
    assert pdf.returncode == 0 and "Mẫu 04 01/VBXL written to slip.pdf" in pdf.stdout, pdf.stderr
    data = (tmp_path / "slip.pdf").read_bytes()
    assert data.startswith(b"%PDF-") and b"/FontFile2" in data and b"/ToUnicode" in data
    assert _cli(tmp_path, "apology", "print", "NOPE").returncode == 1
    # The new date 10/12 is missed too: a second extension is recorded, and the officer is told it is not
    # compliant.
    again = _cli(tmp_path, "apology", "set", code, "--date", "17/12/2026", "--reason", "Chờ ký", "--now", "2026-12-11T09:00")
    assert again.returncode == 0, again.stderr
    assert "Mẫu 04 02/VBXL issued" in again.stdout
    assert "NOT COMPLIANT: extension 2 of this dossier (the rules allow one)" in again.stdout


def test_pdf_needs_a_unicode_font_and_says_which_setting(svc: Service) -> None:
    _seed(svc, dossier("A", NgayHenTra=ts(2026, 11, 30, 17, 0)))
    client, auth = _client(svc)
    client.post("/api/v1/dossiers/A/apology", json={"new_due": "10/12/2026", "reason": REASON}, headers=auth)
    [slip] = _slips(svc)
    with pytest.raises(PdfUnavailable, match=re.escape("apology.pdf_font: value '/nonexistent/font.ttf'")):
        render_slip_pdf(slip, "Hải Phòng", "/nonexistent/font.ttf")
    old_liberation = Path("/usr/share/fonts/truetype/liberation/LiberationSerif-Regular.ttf")
    if old_liberation.is_file():  # fonts-liberation 1.07: no Vietnamese letters, so it would print gaps
        with pytest.raises(PdfUnavailable, match="no Vietnamese letters in the font"):
            render_slip_pdf(slip, "Hải Phòng", str(old_liberation))
    font = find_font(None)
    assert font.suffix == ".ttf" and has_vietnamese(font)
    if Path("/usr/share/fonts/truetype/liberation2/LiberationSerif-Regular.ttf").is_file():
        assert font.name == "LiberationSerif-Regular.ttf"  # the Times-like serif Decree 30/2020 asks for
    assert render_slip_pdf(slip, "Hải Phòng", str(font)).startswith(b"%PDF-")
    page = client.get("/api/v1/dossiers/A/apology", headers=auth)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html") and "Số: 01/VBXL" in page.text
    pdf = client.get("/api/v1/dossiers/A/apology?format=pdf", headers=auth)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF-")
    assert client.get("/api/v1/dossiers/A/apology?number=9/PXL", headers=auth).status_code == 404
