"""Agency level, parent body, short name, seat and desk, and the officer's title: imported, stored, kept
when a later row leaves them blank, and seen by templates."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from notifier.outbox.context import build_context
from notifier.rules.clock import VN_TZ
from notifier.rules.rendering import render, validate
from notifier.store.models import Agency, Notification, Officer
from notifier.workflows.ingest import upsert
from notifier.workflows.officer_import import upsert_officers
from notifier.workflows.service import Service
from tests.factories import dossier

SO = "000.00.30.H26"
WARD = "000.61.30.H26"

ROWS = [
    {
        "MaCanBo": "GD01",
        "HoTen": "Nguyễn Văn Hùng",
        "MaDonVi": SO,
        "TenDonVi": "Sở Tư pháp",
        "ChucDanh": "GIÁM ĐỐC",
        "LaLanhDao": 1,
        "CapDonVi": "province",
        "CoQuanChuQuan": "UBND THÀNH PHỐ HẢI PHÒNG",
        "TenVietTat": "So Tu phap HP",
        "DiaDanh": "Hải Phòng",
        "TenTrungTamPhucVu": "Trung tâm Phục vụ hành chính công thành phố Hải Phòng",
    },
    # A second row of the same agency leaves the agency's cells blank: what is stored stays.
    {"MaCanBo": "CB01", "HoTen": "Trần Thị Hoa", "MaDonVi": SO, "ChucDanh": "", "CoQuanChuQuan": ""},
    {
        "MaCanBo": "CT01",
        "HoTen": "Phạm Văn Long",
        "MaDonVi": WARD,
        "TenDonVi": "Phường Lê Chân",
        "ChucDanh": "CHỦ TỊCH",
        "LaLanhDao": 1,
        "CapDonVi": "Commune",
        "CoQuanChuQuan": "ỦY BAN NHÂN DÂN",
        "DiaDanh": "Hải Phòng",
    },
]


def test_import_stores_agency_and_officer_facts_and_blank_cells_keep_them(service: Service) -> None:
    with service.factory() as session, session.begin():
        report = upsert_officers(session, ROWS)
        assert not report.errors, report.errors
    with service.factory() as session:
        so = session.scalars(select(Agency).where(Agency.code == SO)).one()
        assert (so.level, so.parent_name, so.short_name, so.seat, so.desk_name) == (
            "province",
            "UBND THÀNH PHỐ HẢI PHÒNG",
            "So Tu phap HP",
            "Hải Phòng",
            "Trung tâm Phục vụ hành chính công thành phố Hải Phòng",
        )
        ward = session.scalars(select(Agency).where(Agency.code == WARD)).one()
        assert (ward.level, ward.parent_name, ward.short_name, ward.desk_name) == (
            "commune",
            "ỦY BAN NHÂN DÂN",
            None,
            None,
        )
        titles = {code: title for code, title in session.execute(select(Officer.code, Officer.title)).all()}
        assert titles["GD01"] == "GIÁM ĐỐC" and titles["CT01"] == "CHỦ TỊCH" and titles["CB01"] is None


def test_an_unknown_level_is_refused_naming_the_field_and_value(service: Service) -> None:
    with service.factory() as session, session.begin():
        report = upsert_officers(session, [{**ROWS[2], "CapDonVi": "huyện"}])
    assert report.created == 0
    (error,) = report.errors
    assert "CapDonVi" in str(error) and "huyện" in str(error), str(error)


def test_a_new_agency_is_province_level_by_default(service: Service) -> None:
    with service.factory() as session, session.begin():
        assert not upsert_officers(session, [{"MaCanBo": "X1", "HoTen": "Lê Văn A", "MaDonVi": "NEW"}]).errors
    with service.factory() as session:
        assert session.scalars(select(Agency.level).where(Agency.code == "NEW")).one() == "province"


def test_templates_read_the_new_facts(service: Service) -> None:
    source = "{{ agency.parent_name }}|{{ agency.short_name }}|{{ agency.seat }}|{{ agency.desk_name }}|{{ agency.level }}"
    guarded = "{{ agency.parent_name or '' }}{{ agency.desk_name or '' }}{{ (officer.title or '') if officer else '' }}"
    assert validate(guarded) == []
    assert validate("{{ agency.seat_name }}"), "a name the schema does not have is refused"
    now = datetime(2026, 12, 1, 9, 0, tzinfo=VN_TZ)
    with service.factory() as session, session.begin():
        assert not upsert_officers(session, ROWS).errors
        assert not upsert(session, [dossier("D1", MaCanBo="GD01")], now, source="test").errors
    with service.factory() as session:
        n = Notification(kind="officer_digest", audience="officer")
        officer = session.scalars(select(Officer).where(Officer.code == "GD01")).one()
        n.officer = officer
        context = build_context(n, service.calendar, now)
        assert render(source, context) == (
            "UBND THÀNH PHỐ HẢI PHÒNG|So Tu phap HP|Hải Phòng|"
            "Trung tâm Phục vụ hành chính công thành phố Hải Phòng|province"
        )
        assert context["officer"].title == "GIÁM ĐỐC"
