"""Ingest: idempotent upsert by MaHoSo, and every class of bad input named by row, field and value."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import func, select

from notifier.store.models import Dossier, DossierEvent
from notifier.workflows.ingest import read_file, upsert
from notifier.workflows.officer_import import upsert_officers
from notifier.workflows.service import Service
from tests.factories import dossier, officers, ts


def _import(service: Service, items: list[dict]) -> object:
    with service.factory() as session, session.begin():
        return upsert(session, items, service.clock.now(), source="test")


def _count(service: Service, model: type) -> int:
    with service.factory() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_import_stores_a_dossier_with_normalised_fields(service: Service) -> None:
    report = _import(
        service,
        [
            dossier(
                SoDienThoai="0166 200 0555",
                DanhSachLePhi=[
                    {"TenPhiLePhi": "Lệ phí", "Gia": 1_000_000},
                    {"TenPhiLePhi": "Phí", "Gia": 500_000},
                ],
            )
        ],
    )
    assert (report.created, report.updated, report.errors) == (1, 0, [])
    with service.factory() as session:
        d = session.scalar(select(Dossier))
        assert d is not None
        assert d.phone == "+84362000555"  # 0166 → 036, spaces dropped
        assert d.fee_amount == 1_500_000
        assert d.due_at is not None and d.due_at.tzinfo is not None
        assert d.due_at.strftime("%d/%m/%Y %H:%M") == "04/12/2026 17:00"
        assert d.procedure.name.startswith("Cấp Thẻ công chứng viên")
        assert d.agency.name == "Sở Tư pháp thành phố Hải Phòng"


def test_old_eleven_digit_number_maps_to_new_prefix(service: Service) -> None:
    _import(service, [dossier(SoDienThoai="01662000555")])
    with service.factory() as session:
        assert session.scalar(select(Dossier.phone)) == "+84362000555"


def test_reimport_of_same_data_changes_nothing(service: Service) -> None:
    items = [dossier(), dossier("000.00.30.H26-261120-0002", TrangThaiHoSo=2)]
    first = _import(service, items)
    second = _import(service, items)
    assert (first.created, second.created, second.updated, second.unchanged) == (2, 0, 0, 2)
    assert _count(service, DossierEvent) == 2


def test_status_change_is_recorded_as_an_event(service: Service) -> None:
    _import(service, [dossier(TrangThaiHoSo=2)])
    report = _import(service, [dossier(TrangThaiHoSo=5)])
    assert report.updated == 1
    with service.factory() as session:
        events = session.execute(
            select(DossierEvent.from_status, DossierEvent.to_status).order_by(DossierEvent.id)
        ).all()
    assert [tuple(e) for e in events] == [(None, 2), (2, 5)]


def test_bad_rows_are_named_and_good_rows_still_stored(service: Service) -> None:
    items = [
        dossier("OK-1"),
        dossier("BAD-PHONE", SoDienThoai="0123"),
        dossier("BAD-DATE", NgayHenTra="2026-12-04"),
        dossier("BAD-STATUS", TrangThaiHoSo=11),
        dossier("BAD-ORDER", NgayTiepNhan=ts(2026, 12, 5, 8, 0), NgayHenTra=ts(2026, 12, 4, 17, 0)),
        {k: v for k, v in dossier("NO-NAME").items() if k != "ChuHoSo"},
        dossier("BAD-EMAIL", Email="an.nguyen-at-example"),
        dossier("BAD-FEE", DanhSachLePhi=[{"TenPhiLePhi": "Lệ phí", "Gia": -5}]),
        "not an object",
        dossier("OK-2"),
    ]
    report = _import(service, items)
    assert report.created == 2
    lines = [str(e) for e in report.errors]
    assert "row 2 (MaHoSo BAD-PHONE): field SoDienThoai: value '0123':" in lines[0]
    assert lines[1].startswith(
        "row 3 (MaHoSo BAD-DATE): field NgayHenTra: value '2026-12-04': expected yyyyMMddHHmmss"
    )
    assert lines[2].startswith("row 4 (MaHoSo BAD-STATUS): field TrangThaiHoSo: value '11':")
    assert lines[3].startswith(
        "row 5 (MaHoSo BAD-ORDER): field NgayHenTra: value '20261204170000': before NgayTiepNhan"
    )
    assert lines[4] == "row 6 (MaHoSo NO-NAME): field ChuHoSo: value 'None': Field required"
    assert lines[5].startswith(
        "row 7 (MaHoSo BAD-EMAIL): field Email: value 'an.nguyen-at-example': not an e-mail"
    )
    assert lines[6].startswith("row 8 (MaHoSo BAD-FEE): field DanhSachLePhi.0.Gia: value '-5':")
    assert lines[7].startswith("row 9 (MaHoSo ?): field data: value 'not an object'")
    assert len(lines) == 8
    with service.factory() as session:
        assert sorted(session.scalars(select(Dossier.code))) == ["OK-1", "OK-2"]


def test_open_dossier_without_appointment_is_rejected(service: Service) -> None:
    item = dossier("NO-DUE", TrangThaiHoSo=4)
    del item["NgayHenTra"]
    report = _import(service, [item])
    assert [str(e) for e in report.errors] == [
        "row 1 (MaHoSo NO-DUE): field NgayHenTra: value 'None': required while TrangThaiHoSo is 4"
    ]


def test_unknown_officer_is_a_warning_not_a_rejection(service: Service) -> None:
    report = _import(service, [dossier(MaCanBo="CB99")])
    assert report.created == 1 and not report.errors
    assert "field MaCanBo: value 'CB99': unknown officer" in report.warnings[0]


def test_officer_import_links_dossiers(service: Service) -> None:
    with service.factory() as session, session.begin():
        rep = upsert_officers(
            session, [*officers(), {"MaCanBo": "X", "HoTen": "Y", "MaDonVi": "Z", "SoDienThoai": "abc"}]
        )
    assert rep.created == 3
    assert next(str(e) for e in rep.errors).startswith("row 4 (MaCanBo X): field SoDienThoai: value 'abc':")
    _import(service, [dossier(MaCanBo="CB01")])
    with service.factory() as session:
        d = session.scalar(select(Dossier))
        assert d is not None and d.officer is not None and d.officer.name == "Nguyễn Thị Thu Hà"


def test_read_file_accepts_json_object_list_and_csv(tmp_path: Path) -> None:
    item = dossier()
    (tmp_path / "a.json").write_text(json.dumps({"data": [item]}), encoding="utf-8")
    (tmp_path / "b.json").write_text(json.dumps([item]), encoding="utf-8")
    header = [
        "MaHoSo",
        "MaTTHC",
        "TenTTHC",
        "ChuHoSo",
        "TrangThaiHoSo",
        "NgayHenTra",
        "MaDonVi",
        "DanhSachLePhi",
    ]
    row = [
        item["MaHoSo"],
        item["MaTTHC"],
        item["TenTTHC"],
        item["ChuHoSo"],
        "4",
        item["NgayHenTra"],
        item["MaDonVi"],
        '"[{""Gia"": 200000}]"',
    ]
    (tmp_path / "c.csv").write_text(",".join(header) + "\n" + ",".join(row) + "\n", encoding="utf-8")
    assert read_file(tmp_path / "a.json")[0]["MaHoSo"] == item["MaHoSo"]
    assert read_file(tmp_path / "b.json")[0]["MaHoSo"] == item["MaHoSo"]
    rows = read_file(tmp_path / "c.csv")
    assert rows[0]["DanhSachLePhi"] == '[{"Gia": 200000}]'


def test_csv_row_with_nested_json_imports(service: Service, tmp_path: Path) -> None:
    (tmp_path / "c.csv").write_text(
        "MaHoSo,MaTTHC,TenTTHC,ChuHoSo,TrangThaiHoSo,NgayHenTra,MaDonVi,SoDienThoai,DanhSachLePhi\n"
        'CSV-1,1.001233,Cấp Phiếu,Lê Văn C,4,20261204170000,000.00.30.H26,0912345678,"[{""Gia"": 50000}]"\n'
        "CSV-2,1.001233,Cấp Phiếu,Lê Văn D,4,20261204170000,000.00.30.H26,,[oops\n",
        encoding="utf-8",
    )
    report = _import(service, read_file(tmp_path / "c.csv"))
    assert report.created == 1
    assert str(report.errors[0]).startswith(
        "row 2 (MaHoSo CSV-2): field DanhSachLePhi: value '[oops': not JSON"
    )
    with service.factory() as session:
        assert session.scalar(select(Dossier.fee_amount)) == 50000
