"""The 766 report: a month of dossiers with known outcomes, every figure checked, CSV and XLSX read back."""

from __future__ import annotations

import csv
import html
import io
import json
import subprocess
from collections.abc import Callable
from datetime import datetime, time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import select

from notifier.rules.clock import VN_TZ, FixedClock
from notifier.store.apikeys import create_key
from notifier.store.models import Dossier, Notification, Officer
from notifier.web.api import create_app
from notifier.workflows import reports
from notifier.workflows.apology import issue_missing_slips
from notifier.workflows.ingest import upsert
from notifier.workflows.officer_actions import mark_resolved, set_new_date
from notifier.workflows.officer_import import upsert_officers
from notifier.workflows.service import Service
from notifier.workflows.steps import upsert_progress
from tests.cli_process import run_notifier
from tests.factories import AGENCY, AGENCY_NAME, dossier, officers, ts

SXD, SXD_NAME = "000.00.31.H26", "Sở Xây dựng thành phố Hải Phòng"
P2 = {"MaTTHC": "2.000488", "TenTTHC": "Chứng thực chữ ký trong các giấy tờ, văn bản"}
P3 = {"MaTTHC": "1.009972", "TenTTHC": "Cấp giấy phép xây dựng <mới>", "MaDonVi": SXD, "TenDonVi": SXD_NAME}
NO_FEE: dict[str, Any] = {"DanhSachLePhi": []}


def at(month: int, day: int, hour: int = 9, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=VN_TZ)


def d(code: str, received: tuple[int, int], due: tuple[int, int] | None, **extra: Any) -> dict[str, Any]:
    return dossier(
        code,
        NgayTiepNhan=ts(2026, *received, 8, 0),
        NgayHenTra=ts(2026, *due, 17, 0) if due else None,
        **extra,
    )


def fee(amount: int, paid: bool, online: int | None = None) -> dict[str, Any]:
    """`online`: DuocThanhToanTrucTuyen (1 national platform, 2 own gateway); paid without it is cash."""
    return {"DanhSachLePhi": [{"TenPhiLePhi": "Lệ phí", "Gia": amount}], "DaThanhToan": int(paid),
            "DuocThanhToanTrucTuyen": online}


def build_october(service: Service, clock: FixedClock) -> None:
    """Fifteen dossiers whose October outcome is known (see the expected figures below)."""
    staff = [*officers(), {"MaCanBo": "XD01", "HoTen": "Lê Văn Hải", "MaDonVi": SXD, "TenDonVi": SXD_NAME}]
    s = service.settings

    def imp(*items: dict[str, Any]) -> Callable[[Any], None]:
        def run(session: Any) -> None:
            report = upsert(session, list(items), clock.now(), "test")
            assert not report.errors, report.errors

        return run

    def resolve(code: str) -> Callable[[Any], None]:
        return lambda session: mark_resolved(session, code, clock.now(), actor="test", source="test")

    def new_date(code: str, when: str) -> Callable[[Any], None]:
        return lambda session: set_new_date(
            session, code, when, "Chờ ý kiến cơ quan phối hợp", clock.now(), actor="test", source="test",
            calendar=service.calendar, number_format=s.apology.number_format, default_time=time(17),
        )

    def steps(session: Any) -> None:
        items = [
            {"MaHoSo": "D14", "PhongBanXuLy": "Phòng Quản lý đất đai", "NguoiXuLy": "Trần Minh Đức",
             "NgayBatDau": ts(2026, 10, 2, 8, 0), "NgayKetThucTheoQuyDinh": ts(2026, 10, 6, 17, 0),
             "ThoiDiemXuLy": ts(2026, 10, 15, 10, 0)},
            {"MaHoSo": "D14", "PhongBanXuLy": "Văn phòng Đăng ký đất đai", "NguoiXuLy": "Phạm Thu",
             "NgayBatDau": ts(2026, 10, 15, 10, 0), "NgayKetThucTheoQuyDinh": ts(2026, 10, 16, 17, 0),
             "ThoiDiemXuLy": ts(2026, 10, 19, 10, 0)},
        ]
        assert not upsert_progress(session, items, clock.now(), "test").errors

    timeline: list[tuple[datetime, Callable[[Any], None]]] = [
        (at(9, 15), imp(d("D06", (9, 15), (9, 30), MaCanBo="CB01", **NO_FEE))),
        (at(9, 28), imp(d("D08", (9, 28), (9, 30), MaCanBo="CB01", **NO_FEE))),
        (at(10, 1, 10), imp(d("D07", (9, 20), (10, 2), TrangThaiHoSo=10, NgayTra=ts(2026, 10, 1, 9, 0), **NO_FEE))),
        (at(10, 2), imp(
            d("D14", (10, 2), (10, 8), **P3, **fee(200_000, True, 1)),
            d("D15", (10, 2), (10, 6), MaCanBo="XD01", **P3, **NO_FEE),
        )),
        (at(10, 5), imp(d("D03", (10, 5), (10, 9), MaCanBo="CB02", **NO_FEE))),
        (at(10, 5, 10), imp(d("D13", (10, 1), (10, 5), MaCanBo="XD01", TrangThaiHoSo=10, NgayTra=ts(2026, 10, 5, 9, 0),
                              **P3, **fee(1_000_000, False)))),
        (at(10, 6), imp(d("D10", (10, 6), (10, 13), **P2, **fee(500_000, True, 2)))),
        (at(10, 6, 10), resolve("D06")),
        (at(10, 7), imp(d("D11", (10, 7), (10, 14), **P2, **NO_FEE))),
        # The portal moves D15's missed appointment: an apology whose slip the scan issues.
        (at(10, 7, 9, 30), imp(d("D15", (10, 2), (10, 12), MaCanBo="XD01", LyDoTreHan="Chờ xác minh thực địa", **P3, **NO_FEE))),
        (at(10, 7, 9, 31), lambda session: issue_missing_slips(session, clock.now(), s.apology.number_format)),
        (at(10, 8), imp(d("D12", (10, 8), (10, 20), MaCanBo="CB02", **P2, **fee(100_000, False)))),
        (at(10, 8, 10), imp(d("D01", (10, 1), (10, 9), TrangThaiHoSo=10, NgayTra=ts(2026, 10, 8, 9, 0), **fee(200_000, True)))),
        (at(10, 12), new_date("D03", "16/10/2026")),
        (at(10, 12, 9, 30), imp(d("D11", (10, 7), (10, 14), TrangThaiHoSo=5, **P2, **NO_FEE))),
        (at(10, 12, 10), imp(d("D02", (10, 2), (10, 7), MaCanBo="CB01", TrangThaiHoSo=10, NgayTra=ts(2026, 10, 12, 9, 0),
                              **fee(200_000, False)))),
        (at(10, 12, 15), imp(d("D15", (10, 2), (10, 12), MaCanBo="XD01", TrangThaiHoSo=10, NgayTra=ts(2026, 10, 12, 15, 0),
                              LyDoTreHan="Chờ xác minh thực địa", **P3, **NO_FEE))),
        (at(10, 13, 16), resolve("D10")),
        (at(10, 15, 10), resolve("D03")),
        (at(10, 19, 11), steps),
        (at(10, 20), imp(d("D04", (10, 20), (10, 28), **fee(200_000, True, 1)))),
        (at(10, 20, 10), imp(d("D14", (10, 2), (10, 8), TrangThaiHoSo=10, NgayTra=ts(2026, 10, 20, 10, 0), **P3,
                              **fee(200_000, True, 1)))),
        (at(10, 25), imp(d("D05", (10, 25), (11, 10), **NO_FEE))),
        (at(10, 30), imp(d("D09", (10, 30), None, TrangThaiHoSo=3, **NO_FEE))),
        (at(11, 5), resolve("D12")),  # after the month: D12 was still overdue at its end
    ]
    with service.factory() as session, session.begin():
        assert not upsert_officers(session, staff).errors
    for when, action in timeline:
        clock.set(when)
        with service.factory() as session, session.begin():
            action(session)

    # Messages: what was sent in October counts, for the dossier's agency and procedure.
    with service.factory() as session, session.begin():
        ids = dict(session.execute(select(Dossier.code, Dossier.id)).all())
        cb01 = session.scalar(select(Officer.id).where(Officer.code == "CB01"))
        for n, (code, kind, status, channel, segments, sent) in enumerate([
            ("D01", "received", "sent", "sms_viettel", 2, at(10, 2, 10)),
            ("D02", "received", "delivered", "sms_viettel", 3, at(10, 5, 10)),
            ("D06", "overdue_apology", "sent", "zalo", None, at(10, 1, 8)),
            (None, "officer_digest", "sent", "telegram", None, at(10, 15, 8)),
            ("D13", "result_ready", "sent", "sms_viettel", 1, at(10, 31, 23, 59)),
            ("D13", "returned", "sent", "sms_viettel", 1, datetime(2026, 11, 1, 0, 0, tzinfo=VN_TZ)),  # November
            ("D01", "returned", "failed", "sms_viettel", None, None),
            ("D08", "received", "sent", "sms_viettel", 2, at(9, 30, 23, 59)),  # September
        ]):
            session.add(
                Notification(
                    dedupe_key=f"test:{n}", kind=kind, audience="officer" if code is None else "citizen",
                    dossier_id=ids[code] if code else None, officer_id=cb01 if code is None else None,
                    status=status, channel=channel, segments=segments, sent_at=sent, not_before=at(10, 1),
                    attempts=1, created_at=at(10, 1), updated_at=at(10, 1),
                )
            )
    clock.set(datetime(2026, 11, 5, 10, 0, tzinfo=VN_TZ))


FIELDS = ("received", "resolved", "on_time", "late", "still_overdue", "apologies", "overdue_with_apology",
          "with_fees", "paid_online", "sms_segments")
EXPECTED: dict[tuple[str, str | None], tuple[int, ...]] = {
    # received resolved on_time late still apologies overdue_w_apology with_fees paid segments
    # D09 (not accepted, status 3) is not received; D01 paid in cash at the desk is not paid online;
    # D06's sent "overdue_apology" message without a Mẫu 04 document does not count as apologised.
    (AGENCY, "1.001233"): (5, 5, 2, 3, 2, 1, 1, 3, 1, 5),
    (AGENCY, "2.000488"): (3, 1, 1, 0, 1, 0, 0, 2, 1, 0),
    (AGENCY, None): (8, 6, 3, 3, 3, 1, 1, 5, 2, 5),
    (SXD, "1.009972"): (3, 3, 1, 2, 0, 1, 1, 2, 1, 1),
    (SXD, None): (3, 3, 1, 2, 0, 1, 1, 2, 1, 1),
}
TOTAL = (11, 9, 4, 5, 3, 2, 2, 7, 3, 6)
SENT = {
    (AGENCY, "1.001233"): {"sms_viettel": 2, "zalo": 1},
    (AGENCY, "2.000488"): {},
    (AGENCY, None): {"sms_viettel": 2, "zalo": 1, "telegram": 1},
    (SXD, "1.009972"): {"sms_viettel": 1},
    (SXD, None): {"sms_viettel": 1},
}
LATE = [
    ("Sở Tư pháp thành phố Hải Phòng", "Nguyễn Thị Thu Hà", "agency", 2, 1, "D02 D06 D08"),
    ("Sở Tư pháp thành phố Hải Phòng", "Trần Văn Minh", "agency", 1, 1, "D03 D12"),
    ("Phòng Quản lý đất đai", "Trần Minh Đức", "step", 1, 0, "D14"),
    ("Sở Tư pháp thành phố Hải Phòng", "(chưa phân công)", "agency", 0, 1, "D04"),
    (SXD_NAME, "Lê Văn Hải", "agency", 1, 0, "D15"),
]


def _figures(f: reports.Figures) -> tuple[int, ...]:
    return tuple(getattr(f, name) for name in FIELDS)


@pytest.fixture
def october(service: Service, clock: FixedClock) -> reports.Report:
    build_october(service, clock)
    with service.factory() as session:
        return reports.build_report(session, reports.month_period("2026-10"), clock.now())


def test_every_figure_of_a_known_month(october: reports.Report) -> None:
    report = october
    assert [b.code for b in report.agencies] == [AGENCY, SXD]  # by name: "Sở Tư pháp" < "Sở Xây dựng"
    got: dict[tuple[str, str | None], tuple[int, ...]] = {}
    sent: dict[tuple[str, str | None], dict[str, int]] = {}
    for block in report.agencies:
        got[(block.code, None)] = _figures(block.figures)
        sent[(block.code, None)] = block.figures.sent
        for p in block.procedures:
            got[(block.code, p.code)] = _figures(p.figures)
            sent[(block.code, p.code)] = p.figures.sent
    assert got == EXPECTED
    assert sent == SENT
    assert _figures(report.total) == TOTAL
    assert report.total.sent == {"sms_viettel": 3, "zalo": 1, "telegram": 1}
    assert report.channels == ["sms_viettel", "telegram", "zalo"]
    stp = report.agencies[0].figures
    assert (stp.on_time_rate, stp.apology_rate, stp.paid_online_rate) == (0.5, 1 / 6, 0.4)
    assert [(e.unit, e.officer, e.source, e.late_resolved, e.still_overdue, " ".join(e.dossiers)) for e in report.late] == LATE


def test_messages_of_no_agency_have_a_row_so_the_total_is_the_sum_of_the_rows(
    service: Service, clock: FixedClock
) -> None:
    # A spend warning to an admin account concerns no dossier and no officer: it was counted in the total
    # (sent, segments, cost) and in no row, so the rows an official adds up fell short of "Tổng cộng".
    build_october(service, clock)
    with service.factory() as session, session.begin():
        session.add(
            Notification(
                dedupe_key="test:admin", kind="spend_warning", audience="head", status="sent",
                channel="sms_viettel", segments=1, cost_vnd=700, sent_at=at(10, 20, 9), not_before=at(10, 20),
                attempts=1, created_at=at(10, 20), updated_at=at(10, 20),
            )
        )
    with service.factory() as session:
        report = reports.build_report(session, reports.month_period("2026-10"), clock.now())
    assert [b.code for b in report.agencies] == [AGENCY, SXD, ""]
    unowned = report.agencies[-1]
    assert unowned.name == reports.NO_AGENCY and unowned.procedures == []
    assert (unowned.figures.sent, unowned.figures.sms_segments, unowned.figures.cost_vnd) == (
        {"sms_viettel": 1}, 1, 700
    )
    rows = [r for r in reports.flat_rows(report) if r["level"] == "agency"]
    [total] = [r for r in reports.flat_rows(report) if r["level"] == "total"]
    for key in ("sent_total", "sms_segments", "cost_vnd", "received", "resolved"):
        assert total[key] == sum(r[key] for r in rows), key
    for fmt in ("csv", "xlsx", "html", "json"):  # every form carries the row
        body = reports.ReportWorkflow(service).monthly("2026-10", fmt).body
        assert body and (fmt == "xlsx" or reports.NO_AGENCY in body.decode("utf-8")), fmt
    # Without such messages there is no such row (the known month above).
    build = reports.build_report
    with service.factory() as session, session.begin():
        session.execute(Notification.__table__.delete().where(Notification.dedupe_key == "test:admin"))
    with service.factory() as session:
        assert [b.code for b in build(session, reports.month_period("2026-10"), clock.now()).agencies] == [AGENCY, SXD]


def _csv_sections(text: str) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    assert text.startswith("\ufeff")
    # subprocess output in text mode has its \r\n already turned into \n
    figures, _, late = text.removeprefix("\ufeff").replace("\r\n", "\n").partition("\n\n")
    return list(csv.DictReader(io.StringIO(figures))), list(csv.DictReader(io.StringIO(late)))


def test_csv_is_headed_in_vietnamese_unless_keys_are_asked(october: reports.Report) -> None:
    rows, late = _csv_sections(reports.to_csv(october))
    keyed, keyed_late = _csv_sections(reports.to_csv(october, keys=True))
    names = dict([*reports.ROW_COLUMNS, *reports.COLUMNS])
    assert [names[k] for k in keyed[0] if k in names] == [h for h in rows[0] if h in names.values()]
    assert len(rows[0]) == len(keyed[0]) and list(late[0]) == [n for _, n in reports.LATE_COLUMNS]
    assert [r["Cấp"] for r in rows] == [reports.LEVELS[r["level"]] for r in keyed]
    assert [r["Nguồn"] for r in late] == [reports.SOURCES[r["source"]] for r in keyed_late]
    # The figures themselves are the same.
    assert [r["Hồ sơ tiếp nhận"] for r in rows] == [r["received"] for r in keyed]
    assert not any(k.isascii() and "_" in k for k in rows[0])


def test_csv_reads_back_to_the_same_figures(october: reports.Report) -> None:
    rows, late = _csv_sections(reports.to_csv(october, keys=True))
    assert [(r["level"], r["agency_code"], r["procedure_code"]) for r in rows] == [
        ("agency", AGENCY, ""), ("procedure", AGENCY, "1.001233"), ("procedure", AGENCY, "2.000488"),
        ("agency", SXD, ""), ("procedure", SXD, "1.009972"), ("total", "", ""),
    ]
    for r in rows:
        key = (r["agency_code"], r["procedure_code"] or None)
        expected = TOTAL if r["level"] == "total" else EXPECTED[key]
        assert tuple(int(r[name]) for name in FIELDS) == expected, r
        channels = {"sms_viettel": 3, "zalo": 1, "telegram": 1} if r["level"] == "total" else SENT[key]
        assert {c: int(r[f"sent_{c}"]) for c in ("sms_viettel", "telegram", "zalo")} == {
            c: channels.get(c, 0) for c in ("sms_viettel", "telegram", "zalo")
        }
        assert int(r["sent_total"]) == sum(channels.values())
    total = rows[-1]
    assert (total["on_time_pct"], total["apology_pct"], total["paid_online_pct"]) == ("44.4", "25.0", "42.9")
    assert rows[2]["apology_pct"] == "0.0" and rows[4]["on_time_pct"] == "33.3"
    assert [(x["unit"], x["officer"], x["source"], int(x["late_resolved"]), int(x["still_overdue"]), x["dossiers"]) for x in late] == LATE
    assert all(int(x["late_total"]) == int(x["late_resolved"]) + int(x["still_overdue"]) for x in late)


def test_xlsx_reads_back_to_the_same_figures(october: reports.Report) -> None:
    wb = load_workbook(io.BytesIO(reports.to_xlsx(october)))
    ws = wb["Tổng hợp"]
    assert "THÁNG 10/2026" in ws["A1"].value
    header = [c.value for c in ws[3]]
    col = {label: i for i, label in enumerate(header)}
    labels = dict(reports.COLUMNS)
    rows = [[c.value for c in row] for row in ws.iter_rows(min_row=4)]
    assert len(rows) == 6
    for row in rows:
        level = row[col["Cấp"]]
        key = (row[col["Mã cơ quan"]], row[col["Mã thủ tục"]] or None)
        expected = TOTAL if level == "Tổng cộng" else EXPECTED[key]
        got = tuple(
            row[col["Số phần tin SMS"]] if name == "sms_segments" else row[col[labels[name]]] for name in FIELDS
        )
        assert got == expected, row
    total = rows[-1]
    assert total[col["Tỷ lệ đúng hạn (%)"]] == pytest.approx(4 / 9, abs=0.001)
    assert total[col["Tin đã gửi qua zalo"]] == 1 and total[col["Tổng tin đã gửi"]] == 5
    assert rows[1][col["Tỷ lệ đúng hạn (%)"]] == pytest.approx(0.4)
    assert ws.cell(4 + 5, col["Tỷ lệ đúng hạn (%)"] + 1).number_format == "0.0%"
    late = wb["Đơn vị, cá nhân trễ hạn"]
    late_rows = [[c.value for c in row] for row in late.iter_rows(min_row=4)]
    sources = {"agency": "Cơ quan chủ trì", "step": "Bước liên thông"}
    assert late_rows == [[u, o, sources[s], lr, so, lr + so, codes] for u, o, s, lr, so, codes in LATE]


def test_html_has_the_chart_and_escapes_names(october: reports.Report) -> None:
    page = reports.to_html(october)
    assert "<svg" in page and page.count('<rect class="bar') == 2
    chart = reports.chart(october)
    assert [(b["label"], b["value"]) for b in chart["bars"]] == [(AGENCY_NAME, "50,0%"), (SXD_NAME, "33,3%")]
    assert chart["bars"][0]["width"] == round(chart["plot_w"] * 0.5, 1)
    assert f'width="{chart["bars"][0]["width"]}"' in page
    assert "Cấp giấy phép xây dựng &lt;mới&gt;" in page and "<mới>" not in page
    text = html.unescape(page)
    assert "BÁO CÁO<br>Kết quả giải quyết hồ sơ thủ tục hành chính tháng 10/2026" in text
    assert "Phòng Quản lý đất đai" in text and "Bước liên thông" in text


def test_a_period_report_spans_months(service: Service, clock: FixedClock) -> None:
    build_october(service, clock)
    with service.factory() as session:
        report = reports.build_report(session, reports.span_period("2026-09-01", "30/10/2026"), clock.now())
        november = reports.build_report(session, reports.month_period("2026-11"), clock.now())
    # September's three dossiers are received in the span; D09 (30/10, not accepted) is not received.
    assert report.total.received == 14
    assert report.total.sent == {"sms_viettel": 3, "zalo": 1, "telegram": 1}  # 30/09 counts, 31/10 does not
    assert report.period.label == "từ 01/09/2026 đến 30/10/2026"
    # November so far (now is 05/11 10:00): D12 resolved late; D04 and D08 still overdue, D05 not yet due.
    assert (november.total.resolved, november.total.late, november.total.still_overdue) == (1, 1, 2)


def test_bad_periods_name_the_parameter() -> None:
    with pytest.raises(ValueError, match="month: value '2026-13': month must be 1-12"):
        reports.month_period("2026-13")
    with pytest.raises(ValueError, match="month: value 'October'"):
        reports.month_period("October")
    with pytest.raises(ValueError, match="to: value '2026-01-01': before from '2026-06-30'"):
        reports.span_period("2026-06-30", "2026-01-01")
    with pytest.raises(ValueError, match="from: value '2026-02-30'"):
        reports.span_period("2026-02-30", "2026-03-01")
    assert reports.month_period("12/2026").end.isoformat() == "2027-01-01"


def test_reports_over_the_api(service: Service, clock: FixedClock) -> None:
    build_october(service, clock)
    with service.factory() as session, session.begin():
        key = create_key(session, "portal", clock.now())
    client = TestClient(create_app(service))
    auth = {"Authorization": f"Bearer {key}"}
    as_json = client.get("/api/v1/reports/monthly?month=2026-10", headers=auth)
    assert as_json.status_code == 200
    body = as_json.json()
    assert body["total"]["received"] == 11 and body["total"]["on_time_pct"] == 44.4
    assert [a["code"] for a in body["agencies"]] == [AGENCY, SXD] and len(body["late"]) == 5
    as_csv = client.get("/api/v1/reports/monthly?month=2026-10&format=csv", headers=auth)
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert 'filename="bao-cao-20261001-20261031.csv"' in as_csv.headers["content-disposition"]
    vi_rows, _ = _csv_sections(as_csv.content.decode("utf-8"))
    assert vi_rows[-1]["Hồ sơ tiếp nhận"] == "11" and vi_rows[-1]["Cấp"] == "Tổng cộng"
    keyed = client.get("/api/v1/reports/monthly?month=2026-10&format=csv&headers=keys", headers=auth)
    rows, _ = _csv_sections(keyed.content.decode("utf-8"))
    assert rows[-1]["received"] == "11" and rows[-1]["level"] == "total"
    xlsx = client.get("/api/v1/reports/period?from=2026-10-01&to=2026-10-31&format=xlsx", headers=auth)
    assert load_workbook(io.BytesIO(xlsx.content))["Tổng hợp"].max_row == 9
    assert "<svg" in client.get("/api/v1/reports/monthly?month=2026-10&format=html", headers=auth).text
    bad = client.get("/api/v1/reports/monthly?month=2026-13", headers=auth)
    assert bad.status_code == 422 and bad.json()["detail"] == [{"field": "month", "value": "2026-13", "reason": "month must be 1-12"}]
    assert client.get("/api/v1/reports/monthly?month=2026-10&format=pdf", headers=auth).json()["detail"][0]["field"] == "format"
    assert client.get("/api/v1/reports/monthly?month=2026-10").status_code == 401


def test_report_command(service: Service, clock: FixedClock, tmp_path: Path, db_url: str) -> None:
    build_october(service, clock)
    (tmp_path / "config.toml").write_text(f'[database]\nurl = "{db_url}"\n', encoding="utf-8")

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return run_notifier(tmp_path, *args)

    now = ("--now", "2026-11-05T10:00")
    out = cli("report", "monthly", "--month", "2026-10", "--format", "csv", "--headers", "keys", *now)
    assert out.returncode == 0, out.stderr
    rows, late = _csv_sections(out.stdout)
    assert rows[-1]["resolved"] == "9" and len(late) == 5
    vi = cli("report", "monthly", "--month", "2026-10", "--format", "csv", *now)
    vi_rows, vi_late = _csv_sections(vi.stdout)
    assert vi_rows[-1]["Hồ sơ đã giải quyết"] == "9" and len(vi_late) == 5 and "Mã hồ sơ" in vi_late[0]
    xl = cli("report", "monthly", "--month", "2026-10", "--format", "xlsx", *now)
    assert xl.returncode == 0 and (tmp_path / "bao-cao-20261001-20261031.xlsx").is_file()
    page = cli("report", "period", "--from", "2026-10-01", "--to", "2026-10-31", "--format", "html", "--out", "r.html", *now)
    assert page.returncode == 0 and "<svg" in (tmp_path / "r.html").read_text(encoding="utf-8")
    bad = cli("report", "monthly", "--month", "10-2026")
    assert bad.returncode == 2 and "--month: value '10-2026'" in bad.stderr
    assert json.loads(cli("report", "monthly", "--month", "2026-10", "--format", "json", *now).stdout)["total"]["late"] == 5
