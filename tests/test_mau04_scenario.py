"""Done-when scenario of issue 12 (part A), in the merged Hai Phong: a department (Sở Tư pháp) and a ward
(phường Lê Chân). A dossier is prompted before its deadline and gets Mẫu 04 with a reason and a new date;
its second extension is recorded but flagged; a ward dossier misses its date without Mẫu 04 and the citizen
is told so honestly. Every message text and the printed document (HTML, and the PDF read back as text) are
checked, and the report's Mẫu 04 figures against values counted by hand."""

from __future__ import annotations

import asyncio
import html
import io
import json
import re
from datetime import datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlalchemy import select

from notifier.rules.clock import VN_TZ, FixedClock
from notifier.rules.documents import date_words, issuer_header, signer_lines
from notifier.rules.officer_buttons import alert_buttons
from notifier.store.apikeys import create_key
from notifier.store.models import ApologySlip, Dossier
from notifier.web.api import create_app
from notifier.workflows import reports
from notifier.workflows.apology import find_font, render_slip_html, render_slip_pdf
from notifier.workflows.ingest import upsert
from notifier.workflows.officer_import import upsert_officers
from notifier.workflows.service import Service
from tests.factories import dossier, ts

STP, LC = "000.00.30.H26", "000.61.30.H26"
DESK_CITY = "Trung tâm Phục vụ hành chính công thành phố Hải Phòng"
DESK_WARD = "Trung tâm Phục vụ hành chính công phường Lê Chân"
FIRM = "Công ty Luật TNHH Minh Khang"
REASON_1 = "Cần xác minh thông tin luật sư thành viên với Đoàn Luật sư thành phố"
REASON_2 = "Chờ kết quả xác minh bổ sung của Đoàn Luật sư thành phố"
REASON_C = "Cần kiểm tra hiện trạng công trình liền kề"

STAFF = [
    {
        "MaCanBo": "TP01", "HoTen": "Nguyễn Thị Thu Hà", "MaDonVi": STP, "TenDonVi": "Sở Tư pháp",
        "SoDienThoai": "0912000001", "CapDonVi": "province", "CoQuanChuQuan": "UBND THÀNH PHỐ HẢI PHÒNG",
        "TenVietTat": "So Tu phap HP", "DiaDanh": "Hải Phòng", "TenTrungTamPhucVu": DESK_CITY,
    },
    # The department's head in the system is a deputy director: he signs "KT. GIÁM ĐỐC".
    {
        "MaCanBo": "TP-PGD", "HoTen": "Phạm Quốc Hùng", "MaDonVi": STP, "LaLanhDao": 1,
        "ChucDanh": "Phó Giám đốc", "SoDienThoai": "0912000002",
    },
    {
        "MaCanBo": "LC01", "HoTen": "Đỗ Văn Nam", "MaDonVi": LC, "TenDonVi": "Phường Lê Chân",
        "SoDienThoai": "0912000003", "CapDonVi": "commune", "CoQuanChuQuan": "ỦY BAN NHÂN DÂN",
        "DiaDanh": "Hải Phòng", "TenTrungTamPhucVu": DESK_WARD,
    },
    {
        "MaCanBo": "LC-CT", "HoTen": "Vũ Thị Lan", "MaDonVi": LC, "LaLanhDao": 1, "ChucDanh": "CHỦ TỊCH",
        "SoDienThoai": "0912000004",
    },
]

LAW_FIRM = {"MaTTHC": "1.008720", "TenTTHC": "Đăng ký hoạt động của công ty luật", "MaDonVi": STP, "TenDonVi": "Sở Tư pháp"}
HOUSE = {"MaTTHC": "1.009975", "TenTTHC": "Cấp giấy phép xây dựng nhà ở riêng lẻ", "MaDonVi": LC, "TenDonVi": "Phường Lê Chân"}
DOSSIERS = [
    dossier("STP-A", **LAW_FIRM, ChuHoSo=FIRM, LoaiDoiTuong=2, MaCanBo="TP01", SoDienThoai="0987111222",
            Email="lienhe@minhkhang.example", NgayTiepNhan=ts(2026, 11, 16, 8, 30), NgayHenTra=ts(2026, 12, 2, 17, 0),
            DanhSachLePhi=None, DaThanhToan=None),
    dossier("LC-B", **HOUSE, ChuHoSo="Trần Thị Mai", MaCanBo="LC01", SoDienThoai="0987333444", Email=None,
            NgayTiepNhan=ts(2026, 11, 18, 9, 0), NgayHenTra=ts(2026, 12, 3, 17, 0), DanhSachLePhi=None, DaThanhToan=None),
    dossier("LC-C", **HOUSE, ChuHoSo="Lê Văn Tùng", MaCanBo="LC01", SoDienThoai="0987555666", Email=None,
            NgayTiepNhan=ts(2026, 11, 19, 9, 0), NgayHenTra=ts(2026, 12, 4, 17, 0), DanhSachLePhi=None, DaThanhToan=None),
]


def at(day: int, month: int = 12, hour: int = 9) -> datetime:
    return datetime(2026, month, day, hour, 0, tzinfo=VN_TZ)


class Scenario:
    def __init__(self, svc: Service, clock: FixedClock, tmp_path: Path) -> None:
        self.svc, self.clock, self.path = svc, clock, tmp_path / "outbox.jsonl"
        self.seen = 0
        with svc.factory() as session, session.begin():
            key = create_key(session, "portal", clock.now())
        self.client = TestClient(create_app(svc))
        self.auth = {"Authorization": f"Bearer {key}"}

    def step(self, when: datetime) -> list[dict]:
        """Move the clock, scan, send; the messages sent in this step."""
        self.clock.set(when)
        self.svc.scan()
        asyncio.run(self.svc.dispatcher.drain())
        lines = self.path.read_text(encoding="utf-8").splitlines() if self.path.exists() else []
        new, self.seen = [json.loads(x) for x in lines[self.seen :]], len(lines)
        return new

    def mau04(self, code: str, new_due: str, reason: str, officer: str) -> dict:
        resp = self.client.post(
            f"/api/v1/dossiers/{code}/apology",
            json={"new_due": new_due, "reason": reason, "officer": officer},
            headers=self.auth,
        )
        assert resp.status_code == 200, resp.text
        return resp.json()  # type: ignore[no-any-return]


# The messages about appointments the agency cannot keep (due_soon reminders and the daily digests go out
# as before; the digests are checked on the day they flag the second extension).
WATCHED = {"apology_due", "overdue_apology", "overdue_notice", "new_appointment", "overdue_alert", "escalation"}


def _by(messages: list[dict]) -> dict[tuple[str, str | None], str]:
    watched = [m for m in messages if m["kind"] in WATCHED]
    out = {(m["kind"], m["dossier_code"]): m["text"] for m in watched}
    assert len(out) == len(watched), watched  # nothing sent twice
    return out


def _slip(svc: Service, code: str, n: int = 1) -> ApologySlip:
    with svc.factory() as session:
        return session.scalars(
            select(ApologySlip).where(ApologySlip.dossier_code == code).order_by(ApologySlip.id)
        ).all()[n - 1]


def _pdf_text(data: bytes) -> str:
    text = "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages)
    return " ".join(text.split())


def _pdf_layout(data: bytes) -> tuple[float, set[float], str]:
    """The leftmost text position (pt), the font sizes used, and the embedded font's name."""
    xs: list[float] = []
    sizes: set[float] = set()

    def visit(text: str, cm: list[float], tm: list[float], font: object, size: float) -> None:
        if text.strip():
            xs.append(tm[4] * cm[0] + cm[4])
            sizes.add(round(size, 1))

    page = PdfReader(io.BytesIO(data)).pages[0]
    page.extract_text(visitor_text=visit)
    fonts = page["/Resources"]["/Font"]  # type: ignore[index]
    names = " ".join(str(fonts[k].get_object()["/BaseFont"]) for k in fonts)
    return min(xs), sizes, names


def _html_text(page: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page.split("<body>", 1)[1])).split())


def test_the_mau_04_scenario_in_the_merged_hai_phong(svc: Service, clock: FixedClock, tmp_path: Path) -> None:
    clock.set(at(1))  # Tuesday 01/12/2026
    with svc.factory() as session, session.begin():
        assert not upsert_officers(session, STAFF).errors
        assert not upsert(session, DOSSIERS, clock.now(), source="test").errors
    s = Scenario(svc, clock, tmp_path)

    # Tuesday: STP-A is due tomorrow (1 working day): its officer is prompted to issue Mẫu 04 before the date.
    sent = _by(s.step(at(1)))
    assert set(sent) == {("apology_due", "STP-A")}
    prompt = sent[("apology_due", "STP-A")]
    assert prompt.startswith("Sắp đến hạn trả kết quả - Sở Tư pháp\nĐồng chí Nguyễn Thị Thu Hà,\n")
    assert "Hồ sơ STP-A còn 1 ngày làm việc đến hạn trả kết quả." in prompt
    assert "Người nộp: Công ty Luật TNHH Minh Khang" in prompt and "Hạn trả kết quả: 02/12/2026" in prompt
    assert 'lập ngay Mẫu số 04 "Văn bản xin lỗi và đề nghị gia hạn thời gian giải quyết"' in prompt
    assert "đã được gia hạn" not in prompt
    with svc.factory() as session:
        a_id = session.scalars(select(Dossier.id).where(Dossier.code == "STP-A")).one()
    assert [label for label, _ in alert_buttons("apology_due", a_id)] == ["Lập Mẫu 04 (xin lỗi, gia hạn)", "Đã xử lý xong"]

    # The officer issues Mẫu 04 before the deadline; the firm gets it at once, addressed by its name.
    clock.set(at(1, hour=10))
    done = s.mau04("STP-A", "09/12/2026", REASON_1, "TP01")
    assert (done["number"], done["extension_no"], done["compliant"], done["warning"]) == ("01/VBXL", 1, True, None)
    sent = _by(s.step(at(1, hour=10)))
    assert set(sent) == {("overdue_apology", "STP-A")}
    letter = sent[("overdue_apology", "STP-A")]
    assert letter == (
        "Sở Tư pháp trân trọng xin lỗi Quý tổ chức vì hồ sơ dưới đây không thể được trả kết quả đúng hẹn.\n"
        "Văn bản xin lỗi và đề nghị gia hạn thời gian giải quyết số: 01/VBXL ngày 01/12/2026\n"
        "Mã hồ sơ: STP-A\n"
        "Thủ tục: Đăng ký hoạt động của công ty luật\n"
        "Ngày hẹn trả kết quả trước đây: 02/12/2026\n"
        f"Lý do: {REASON_1}.\n"
        "Ngày hẹn trả kết quả mới: 09/12/2026\n"
        "Rất mong nhận được sự thông cảm của Quý tổ chức."
    )

    # The printed document (Decree 30/2020), HTML and PDF.
    slip = _slip(svc, "STP-A")
    page = render_slip_html(slip, "Hải Phòng")
    assert '<div class="line">UBND THÀNH PHỐ HẢI PHÒNG</div>' in page
    assert '<div class="line strong">SỞ TƯ PHÁP</div>' in page
    assert "font-family: \"Liberation Serif\"" in page and "font-size: 13pt" in page
    assert "margin: 20mm 20mm 20mm 30mm" in page
    pdf = render_slip_pdf(slip, "Hải Phòng")
    left, sizes, fonts = _pdf_layout(pdf)
    assert 85.0 <= left < 87.0  # the left margin is 30 mm (85.04 pt)
    assert 13.0 in sizes and 14.0 in sizes and max(sizes) <= 14.0  # body 13 pt, title and motto 14 pt
    if find_font(None).name.startswith("LiberationSerif"):
        assert "LiberationSerif" in fonts
    pdf_text = _pdf_text(pdf)
    # "Nơi nhận" is set flush left: justified, its wrapped lines were spread ("-  Trung  tâm  Phục  vụ ...").
    layout = PdfReader(io.BytesIO(pdf)).pages[0].extract_text(extraction_mode="layout")
    assert "- Trung tâm Phục vụ hành chính công" in layout, layout
    for text in (_html_text(page), pdf_text):
        for expected in (
            "UBND THÀNH PHỐ HẢI PHÒNG SỞ TƯ PHÁP",
            "Số: 01/VBXL",
            "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
            "Độc lập - Tự do - Hạnh phúc",
            "Hải Phòng, ngày 01 tháng 12 năm 2026",
            "VĂN BẢN XIN LỖI VÀ ĐỀ NGHỊ GIA HẠN THỜI GIAN GIẢI QUYẾT",
            f"Kính gửi: {FIRM}",
            "mã hồ sơ (số biên nhận) STP-A, thủ tục Đăng ký hoạt động của công ty luật",
            "ngày hẹn trả kết quả: 02/12/2026",
            f"Lý do: {REASON_1}.",
            "hẹn trả kết quả vào ngày 09 tháng 12 năm 2026",
            "Nơi nhận: - Như trên;",
            f"- {DESK_CITY};",
            "- Lưu: VT.",
            "KT. GIÁM ĐỐC PHÓ GIÁM ĐỐC",
            "Phạm Quốc Hùng",
        ):
            assert expected in text, (expected, text)
        assert "Quý tổ chức Công ty" not in text and "Ông/Bà" not in text

    # Wednesday: the ward's LC-B is due tomorrow: its officer is prompted; nothing else goes out.
    assert set(_by(s.step(at(2)))) == {("apology_due", "LC-B")}
    # Thursday: LC-C is prompted and the ward issues Mẫu 04 for it; LC-B gets none.
    assert set(_by(s.step(at(3)))) == {("apology_due", "LC-C")}
    clock.set(at(3, hour=10))
    assert s.mau04("LC-C", "15/12/2026", REASON_C, "LC01")["number"] == "01/VBXL"  # the ward's own series
    sent = _by(s.step(at(3, hour=10)))
    assert set(sent) == {("overdue_apology", "LC-C")}
    assert "Phường Lê Chân trân trọng xin lỗi Ông/Bà" in sent[("overdue_apology", "LC-C")]
    ward_page = render_slip_html(_slip(svc, "LC-C"), "Hải Phòng")
    ward_pdf = _pdf_text(render_slip_pdf(_slip(svc, "LC-C"), "Hải Phòng"))
    for text in (_html_text(ward_page), ward_pdf):
        for expected in (
            "ỦY BAN NHÂN DÂN PHƯỜNG LÊ CHÂN",
            "Hải Phòng, ngày 03 tháng 12 năm 2026",
            "Kính gửi: Ông/Bà Lê Văn Tùng",
            f"- {DESK_WARD};",
            "TM. ỦY BAN NHÂN DÂN CHỦ TỊCH",
            "Vũ Thị Lan",
            "hẹn trả kết quả vào ngày 15 tháng 12 năm 2026",
        ):
            assert expected in text, (expected, text)

    # Friday: LC-B's date passed without Mẫu 04: the citizen is told the plain fact, the officer alerted.
    sent = _by(s.step(at(4)))
    assert set(sent) == {("overdue_notice", "LC-B"), ("overdue_alert", "LC-B")}
    assert sent[("overdue_notice", "LC-B")] == (
        "Phường Lê Chân thông báo: hồ sơ của Ông/Bà chưa có kết quả đúng hẹn.\n"
        "Mã hồ sơ: LC-B\n"
        "Thủ tục: Cấp giấy phép xây dựng nhà ở riêng lẻ\n"
        "Ngày hẹn trả kết quả: 03/12/2026\n"
        "Cơ quan sẽ thông báo ngày hẹn trả kết quả mới tới Ông/Bà."
    )
    assert "Hồ sơ LC-B đã quá hạn" in sent[("overdue_alert", "LC-B")]
    # Tuesday 08/12: two working days late, the ward's chairwoman is escalated to, as before.
    sent = _by(s.step(at(8)))
    assert set(sent) == {("escalation", "LC-B"), ("apology_due", "STP-A")}
    assert "LC-B" in sent[("escalation", "LC-B")] and "Vũ Thị Lan" in sent[("escalation", "LC-B")]
    # STP-A's new date is tomorrow: prompted again, told that one extension was already used.
    again = sent[("apology_due", "STP-A")]
    assert "hồ sơ đã được gia hạn 1 lần" in again and "không đúng quy định" in again

    # Thursday 10/12: STP-A missed its new date too: the honest notice (showing no apology), then a second
    # extension, recorded but flagged to the officer and in the report.
    sent = _by(s.step(at(10)))
    assert ("overdue_notice", "STP-A") in sent and ("overdue_apology", "STP-A") not in sent
    notice = sent[("overdue_notice", "STP-A")]
    assert "Sở Tư pháp thông báo: hồ sơ của Quý tổ chức chưa có kết quả đúng hẹn." in notice
    assert "Ngày hẹn trả kết quả: 09/12/2026" in notice and "xin lỗi" not in notice.lower()
    clock.set(at(10, hour=10))
    second = s.mau04("STP-A", "16/12/2026", REASON_2, "TP01")
    assert (second["number"], second["extension_no"], second["compliant"]) == ("02/VBXL", 2, False)
    assert second["warning"] == "extension 2 of this dossier: not compliant (the rules allow one)"
    sent = _by(s.step(at(10, hour=10)))
    assert set(sent) == {("overdue_apology", "STP-A")}
    assert "số: 02/VBXL" in sent[("overdue_apology", "STP-A")]
    assert "Ngày hẹn trả kết quả trước đây: 09/12/2026" in sent[("overdue_apology", "STP-A")]
    assert "Ngày hẹn trả kết quả mới: 16/12/2026" in sent[("overdue_apology", "STP-A")]
    second_page = _html_text(render_slip_html(_slip(svc, "STP-A", 2), "Hải Phòng"))
    assert "Gia hạn lần thứ 2 của hồ sơ: KHÔNG ĐÚNG QUY ĐỊNH" in second_page  # on screen, not printed

    # Friday 11/12: the digests flag the second extension to the officer and to the head.
    digests = {m["kind"]: m["text"] for m in s.step(at(11)) if m["kind"].endswith("_digest") and "STP-A" in m["text"]}
    assert set(digests) == {"officer_digest", "head_digest"}
    for text in digests.values():
        assert "Đã gia hạn 2 lần (Mẫu 04): KHÔNG ĐÚNG QUY ĐỊNH (chỉ được gia hạn một lần)" in text

    # The report for December, counted by hand: Mẫu 04 issued STP 2 (one not compliant), ward 1. Overdue now,
    # against the appointment before any extension (an extension does not make a dossier on time): STP-A
    # and LC-C with Mẫu 04, LC-B with the notice only, which is no apology.
    with svc.factory() as session:
        report = reports.build_report(session, reports.month_period("2026-12"), clock.now())
    figures = {b.code: b.figures for b in report.agencies}
    assert (figures[STP].apologies, figures[STP].extensions_not_compliant) == (2, 1)
    assert (figures[LC].apologies, figures[LC].extensions_not_compliant) == (1, 0)
    assert (figures[STP].still_overdue, figures[STP].overdue_with_apology) == (1, 1)
    assert (figures[LC].still_overdue, figures[LC].overdue_with_apology) == (2, 1)
    assert (report.total.apologies, report.total.extensions_not_compliant, report.total.overdue_with_apology) == (3, 1, 2)
    csv_text = reports.ReportWorkflow(svc).monthly("2026-12", "csv").body.decode("utf-8")
    assert "Gia hạn lần hai trở lên (không đúng quy định)" in csv_text.splitlines()[0]
    keyed = reports.ReportWorkflow(svc).monthly("2026-12", "csv", keys=True).body.decode("utf-8")
    assert "extensions_not_compliant" in keyed.splitlines()[0]


@pytest.mark.parametrize(
    ("when", "words"),
    [
        (datetime(2027, 3, 5, 9, 0, tzinfo=VN_TZ), "ngày 05 tháng 3 năm 2027"),
        (datetime(2027, 1, 15, 9, 0, tzinfo=VN_TZ), "ngày 15 tháng 01 năm 2027"),
        (datetime(2027, 2, 1, 9, 0, tzinfo=VN_TZ), "ngày 01 tháng 02 năm 2027"),
        (datetime(2026, 12, 31, 9, 0, tzinfo=VN_TZ), "ngày 31 tháng 12 năm 2026"),
        # 23:30 UTC is already the next day in Vietnam.
        (datetime(2026, 10, 9, 23, 30, tzinfo=__import__("datetime").timezone.utc), "ngày 10 tháng 10 năm 2026"),
    ],
)
def test_dates_in_words_pad_the_day_below_10_and_only_months_1_and_2(when: datetime, words: str) -> None:
    assert date_words(when) == words


def test_signature_lines_for_heads_deputies_and_communes() -> None:
    assert signer_lines("province", "UBND THÀNH PHỐ HẢI PHÒNG", "Giám đốc") == ["GIÁM ĐỐC"]
    assert signer_lines("province", "UBND THÀNH PHỐ HẢI PHÒNG", "phó giám đốc") == ["KT. GIÁM ĐỐC", "PHÓ GIÁM ĐỐC"]
    assert signer_lines("commune", "Ủy ban nhân dân", "CHỦ TỊCH") == ["TM. ỦY BAN NHÂN DÂN", "CHỦ TỊCH"]
    assert signer_lines("commune", "ỦY BAN NHÂN DÂN", "PHÓ CHỦ TỊCH") == [
        "TM. ỦY BAN NHÂN DÂN",
        "KT. CHỦ TỊCH",
        "PHÓ CHỦ TỊCH",
    ]
    assert signer_lines("province", None, None) == []


@pytest.mark.parametrize(
    ("name", "parent", "header"),
    [
        ("UBND phường Lê Chân", "ỦY BAN NHÂN DÂN", "PHƯỜNG LÊ CHÂN"),
        ("Ủy ban nhân dân phường Lê Chân", "Ủy ban nhân dân", "PHƯỜNG LÊ CHÂN"),
        ("Phường Lê Chân", "ỦY BAN NHÂN DÂN", "PHƯỜNG LÊ CHÂN"),
        ("Sở Tư pháp", "UBND THÀNH PHỐ HẢI PHÒNG", "SỞ TƯ PHÁP"),
        ("Sở Tư pháp", None, "SỞ TƯ PHÁP"),
        # The demo's and the README's agencies carry the city in their name: the parent's line names it.
        ("Sở Tư pháp thành phố Hải Phòng", "UBND THÀNH PHỐ HẢI PHÒNG", "SỞ TƯ PHÁP"),
        ("Sở Nông nghiệp và Môi trường thành phố Hải Phòng", "UBND THÀNH PHỐ HẢI PHÒNG", "SỞ NÔNG NGHIỆP VÀ MÔI TRƯỜNG"),
        ("Sở Xây dựng thành phố Hải Phòng", "Ủy ban nhân dân thành phố Hải Phòng", "SỞ XÂY DỰNG"),
        ("Công an thành phố Hải Phòng", "BỘ CÔNG AN", "CÔNG AN THÀNH PHỐ HẢI PHÒNG"),
        ("Thành phố Hải Phòng", "UBND THÀNH PHỐ HẢI PHÒNG", "THÀNH PHỐ HẢI PHÒNG"),
    ],
)
def test_a_commune_committee_is_not_named_twice_in_the_header(name: str, parent: str | None, header: str) -> None:
    assert issuer_header(name, parent) == header
