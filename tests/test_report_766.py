"""The Decision 766 figures of a known month (November 2026), computed by hand, on SQLite and PostgreSQL:
end states, supplements, NgayKetThucXuLy, not-accepted dossiers, online payment, channels, early, in
progress within the deadline, carried over from October."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from sqlalchemy.orm import Session

from notifier.rules.clock import VN_TZ, FixedClock
from notifier.workflows import reports
from notifier.workflows.ingest import upsert
from notifier.workflows.service import Service
from tests.factories import AGENCY, dossier, ts

NO_FEE: dict[str, Any] = {"DanhSachLePhi": []}
TWO_SUPPLEMENTS = [
    {"NoiDungBoSung": "Tờ khai bổ sung", "NgayBoSung": ts(2026, 11, 4, 9, 0)},
    {"NoiDungBoSung": "Bản vẽ sửa đổi", "NgayBoSung": ts(2026, 11, 6, 9, 0)},
]


def at(month: int, day: int, hour: int = 9) -> datetime:
    return datetime(2026, month, day, hour, 0, tzinfo=VN_TZ)


def d(code: str, received: tuple[int, int], due: tuple[int, int] | None, **extra: Any) -> dict[str, Any]:
    extra = {**NO_FEE, **extra}
    return dossier(
        code,
        NgayTiepNhan=ts(2026, *received, 8, 0),
        NgayHenTra=ts(2026, *due, 17, 0) if due else None,
        **extra,
    )


def build_november(service: Service, clock: FixedClock) -> None:
    cash = {"DanhSachLePhi": [{"TenPhiLePhi": "Phí", "Gia": 100_000}], "DaThanhToan": 1}
    gateway = {"DanhSachLePhi": [{"TenPhiLePhi": "Lệ phí", "Gia": 200_000}], "DaThanhToan": 1}
    timeline = [
        (at(10, 9), [d("A7", (10, 9), (10, 30))]),
        (at(10, 20), [d("A1", (10, 20), (11, 10))]),
        (at(11, 2), [d("A2", (11, 2), (11, 6), KenhThucHien=1)]),
        (at(11, 3), [d("A3", (11, 3), (11, 20), KenhThucHien=2, DanhSachHoSoBoSung=TWO_SUPPLEMENTS)]),
        (at(11, 4), [d("A4", (11, 4), (11, 25), KenhThucHien=3)]),
        (at(11, 5), [d("A5", (11, 5), (11, 27), KenhThucHien=2)]),
        (at(11, 5, 10), [d("A1", (10, 20), (11, 10), TrangThaiHoSo=9)]),
        (at(11, 6), [d("A6", (11, 6), (12, 15))]),
        # A2 is reported resolved two days late, but the portal says processing ended on 06/11 15:00.
        (at(11, 8), [d("A2", (11, 2), (11, 6), KenhThucHien=1, TrangThaiHoSo=9,
                       NgayKetThucXuLy=ts(2026, 11, 6, 15, 0))]),
        (at(11, 9), [d("A4", (11, 4), (11, 25), KenhThucHien=3, TrangThaiHoSo=7)]),
        (at(11, 10), [
            d("A3", (11, 3), (11, 20), KenhThucHien=2, TrangThaiHoSo=9, DanhSachHoSoBoSung=TWO_SUPPLEMENTS),
            d("A8", (11, 10), None, TrangThaiHoSo=1, KenhThucHien=2),
        ]),
        (at(11, 11), [d("A9", (11, 11), None, TrangThaiHoSo=3, DuocThanhToanTrucTuyen=1, **{
            "DanhSachLePhi": [{"TenPhiLePhi": "Lệ phí", "Gia": 50_000}]})]),
        (at(11, 12), [d("A10", (11, 12), (12, 15), TrangThaiHoSo=6, KenhThucHien=1, **cash)]),
        (at(11, 13), [d("A11", (11, 13), (12, 14), KenhThucHien=2, DuocThanhToanTrucTuyen=2, **gateway)]),
        (at(11, 16), [d("A12", (11, 16), (11, 30), TrangThaiHoSo=2, KenhThucHien=1)]),
        (at(11, 17), [d("A12", (11, 16), (11, 30), TrangThaiHoSo=3, KenhThucHien=1)]),
        (at(11, 30, 10), [d("A5", (11, 5), (11, 27), KenhThucHien=2, TrangThaiHoSo=8)]),
    ]  # fmt: skip
    for when, items in timeline:
        clock.set(when)
        with service.factory() as session, session.begin():
            report = upsert(session, items, clock.now(), "test")
            assert not report.errors, report.errors
    clock.set(at(12, 5))


@pytest.fixture
def november(service: Service, clock: FixedClock) -> reports.Report:
    build_november(service, clock)
    session: Session
    with service.factory() as session:
        return reports.build_report(session, reports.month_period("2026-11"), clock.now())


def test_every_766_figure_of_a_known_month(november: reports.Report) -> None:
    f = november.total
    [block] = november.agencies
    assert block.code == AGENCY
    # Received in November and accepted: A2 A3 A4 A5 A6 A10 A11 A12 (A8 is new, A9 never accepted; A12
    # was accepted, then rejected). Channels: direct A2 A10 A12, online A3 A5 A11, post A4 (A6 unknown).
    assert (f.received, f.received_direct, f.received_online, f.received_post) == (8, 3, 3, 1)
    # Processed in November: A1 A2 A3 (9), A4 (withdrawn), A5 (stopped), A12 (rejected after acceptance).
    # Late: A3 (two supplement requests), A5 (stopped after its deadline). Early, a day or more before the
    # deadline: A1 (05/11 for 10/11), A4 (09/11 for 25/11), A12 (17/11 for 30/11); A2 ended 2 hours before.
    assert (f.resolved, f.on_time, f.late, f.early) == (6, 4, 2, 3)
    assert f.on_time_rate == pytest.approx(4 / 6)
    # At the end: A7 overdue since October; A6, A10 (waiting for payment), A11 within their deadlines.
    assert (f.still_overdue, f.in_progress_on_time) == (1, 3)
    # Open on 01/11: A1 and A7.
    assert f.carried_over == 2
    # Fees: A10 (cash at the desk: not online), A11 (own gateway: online); A9 was never accepted.
    assert (f.with_fees, f.paid_online) == (2, 1)
    assert block.figures.early == f.early


def test_the_exports_name_the_766_columns_in_vietnamese(november: reports.Report) -> None:
    [total] = [r for r in reports.flat_rows(november) if r["level"] == "total"]
    assert (total["early"], total["in_progress_on_time"], total["carried_over"]) == (3, 3, 2)
    assert (total["received_direct"], total["received_online"], total["received_post"]) == (3, 3, 1)
    labels = dict(reports.COLUMNS)
    assert labels["received_direct"] == "Tiếp nhận trực tiếp"
    assert labels["received_online"] == "Tiếp nhận trực tuyến"
    assert labels["received_post"] == "Tiếp nhận qua dịch vụ bưu chính công ích"
    assert labels["early"] == "Giải quyết trước hạn (*)"
    assert labels["carried_over"] == "Kỳ trước chuyển sang"
    assert labels["in_progress_on_time"] == "Đang giải quyết trong hạn"


def test_the_html_report_is_a_publishable_document(november: reports.Report, service: Service) -> None:
    import html as html_lib

    form = reports.DocumentForm(
        parent_body="UBND THÀNH PHỐ HẢI PHÒNG",
        issuing_body="SỞ TƯ PHÁP",
        number_symbol="/BC-STP",
        place="Hải Phòng",
        recipients=["UBND thành phố (để báo cáo)", "Văn phòng UBND thành phố", "Lưu: VT, KSTTHC."],
        signer_title=["KT. GIÁM ĐỐC", "PHÓ GIÁM ĐỐC"],
        signer_name="Phạm Quốc Hùng",
    )
    text = html_lib.unescape(reports.to_html(november, form))
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in text and "Độc lập - Tự do - Hạnh phúc" in text
    assert text.index("UBND THÀNH PHỐ HẢI PHÒNG") < text.index("SỞ TƯ PHÁP") < text.index("/BC-STP")
    assert "Hải Phòng, ngày 05 tháng 12 năm 2026" in text  # generated on 05/12/2026
    assert "<div>- UBND thành phố (để báo cáo);</div>" in text and "<div>- Lưu: VT, KSTTHC.</div>" in text
    assert text.index("KT. GIÁM ĐỐC") < text.index("PHÓ GIÁM ĐỐC") < text.index("Phạm Quốc Hùng")
    assert "Giải quyết trước hạn (*)" in text and "Tiếp nhận qua dịch vụ bưu chính công ích" in text
    assert "cách tính riêng của hệ thống" in text
    # Through the workflow, the names come from [report] in config.
    page = reports.ReportWorkflow(service).monthly("2026-11", "html").body.decode("utf-8")
    assert "VĂN PHÒNG UBND THÀNH PHỐ" in page and "/BC-VP" in page


def test_document_dates_pad_as_decree_30_says() -> None:
    from datetime import date

    assert reports.document_date("Hải Phòng", date(2027, 3, 5)) == "Hải Phòng, ngày 05 tháng 3 năm 2027"
    assert reports.document_date("Hải Phòng", date(2027, 2, 15)) == "Hải Phòng, ngày 15 tháng 02 năm 2027"
    assert reports.document_date("Hải Phòng", date(2026, 1, 10)) == "Hải Phòng, ngày 10 tháng 01 năm 2026"


def test_long_agency_names_wrap_inside_the_chart_label_column() -> None:
    long_name = "Trung tâm Phục vụ hành chính công và Kiểm soát thủ tục hành chính thành phố Hải Phòng"
    figures = reports.Figures(resolved=4, on_time=3)
    period = reports.month_period("2026-11")
    report = reports.Report(
        period, at(12, 5), [reports.AgencyBlock("X", long_name, figures, [])], figures, [], []
    )
    chart = reports.chart(report)
    [bar] = chart["bars"]
    assert " ".join(bar["lines"]) == long_name  # nothing cut off
    assert len(bar["lines"]) == 3 and all(len(line) <= reports.LABEL_CHARS for line in bar["lines"])
    # 36 characters at 12 px (about 6.5 px each) fit the 260 px label column; the row grows to hold them.
    assert chart["label_w"] > reports.LABEL_CHARS * 6.5
    assert chart["height"] >= bar["y"] + 3 * chart["line_h"]
    page = reports.to_html(report)
    assert page.count("<tspan") == 3
    assert reports.wrap_label("A" * 80) == ["A" * 36, "A" * 36, "A" * 8]


def test_the_766_fields_are_validated_at_ingest(service: Service) -> None:
    bad = [
        d("B1", (11, 2), (11, 6), KenhThucHien=4),
        d("B2", (11, 2), (11, 6), DuocThanhToanTrucTuyen=3),
        d("B3", (11, 2), (11, 6), NgayKetThucXuLy="2026-11-06"),
        d("B4", (11, 2), (11, 6), KenhThucHien="", DuocThanhToanTrucTuyen="", NgayKetThucXuLy=""),
    ]
    with service.factory() as session, session.begin():
        report = upsert(session, bad, service.clock.now(), "test")
    got = sorted((e.code, e.field, str(e.value)) for e in report.errors)
    assert got == [
        ("B1", "KenhThucHien", "4"),
        ("B2", "DuocThanhToanTrucTuyen", "3"),
        ("B3", "NgayKetThucXuLy", "2026-11-06"),
    ]
    assert report.created == 1  # blanks are no value
