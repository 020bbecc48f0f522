"""QR codes of dossiers' public links and the printable slips: the command, the API, the key, the PDF.

No QR decoder is a dependency, so a code is checked module by module: the SVG's path, the PNG's pixels and
the PDF's rectangles are read back into a matrix and compared with the one segno makes for the expected
link at level Q, which also proves the link inside (a different link or level gives another matrix).
"""

from __future__ import annotations

import io
import re
import subprocess
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from urllib.parse import unquote

import pytest
import segno
from fastapi.testclient import TestClient
from PIL import Image
from pypdf import PdfReader

from notifier.rules import public_token
from notifier.rules.clock import FixedClock
from notifier.store.apikeys import create_key
from notifier.web.api import create_app
from notifier.workflows.ingest import upsert
from notifier.workflows.public_links import public_url
from notifier.workflows.qr_slips import QrFormat, QrWorkflow
from notifier.workflows.service import Service
from tests.cli_process import notifier_env, run_notifier
from tests.conftest import migrated_service
from tests.factories import AGENCY, dossier, ts

BASE = "https://dichvucong.haiphong.gov.vn"
CODE = "000.00.30.H26-261120-0001"
SECRET = "khoa-bi-mat-cua-lien-ket-cong-khai"
Matrix = list[list[bool]]


@pytest.fixture
def qsvc(db_url: str, tmp_path: Path, clock: FixedClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[Service]:
    monkeypatch.setenv("NOTIFIER_PUBLIC_LINK_SECRET", SECRET)
    svc = migrated_service(
        db_url, tmp_path, clock, public={"base_url": BASE, "link_key_file": str(tmp_path / "k" / "link.key")}
    )
    yield svc
    svc.engine.dispose()


def _seed(service: Service, *items: dict) -> None:
    with service.factory() as session, session.begin():
        report = upsert(session, list(items), service.clock.now(), source="test")
        assert not report.errors, report.errors


def _receipts() -> list[dict]:
    """Three dossiers received 20/11/2026 (one at 23:30 Vietnam time, still that day), one the day after."""
    return [
        dossier(CODE, NgayTiepNhan=ts(2026, 11, 20, 8, 30), NgayHenTra=ts(2026, 12, 4, 17, 0)),
        dossier("000.00.30.H26-261120-0002", NgayTiepNhan=ts(2026, 11, 20, 14, 0), NgayHenTra=ts(2026, 12, 7, 17, 0)),
        dossier("000.00.30.H26-261120-0003", NgayTiepNhan=ts(2026, 11, 20, 23, 30), NgayHenTra=ts(2026, 12, 8, 17, 0)),
        dossier("000.00.30.H26-261121-0001", NgayTiepNhan=ts(2026, 11, 21, 0, 10), NgayHenTra=ts(2026, 12, 9, 17, 0)),
    ]


def _expected(url: str) -> Matrix:
    return [[bool(v) for v in row] for row in segno.make_qr(url, error="q", boost_error=False).matrix]


def _svg_matrix(svg: str) -> Matrix:
    """The dark modules segno's SVG path draws ("M4 4.5h7m1 0h5…": runs of modules per row), quiet zone
    dropped, after checking the quiet zone is 4 modules on every side."""
    width = int(re.search(r'<svg[^>]* width="(\d+)"', svg)[1])  # type: ignore[index]
    scale = int(re.search(r'transform="scale\((\d+)\)"', svg)[1])  # type: ignore[index]
    size = width // scale
    grid = [[False] * size for _ in range(size)]
    x = y = 0.0
    path = re.search(r' d="([^"]+)"', svg)[1]  # type: ignore[index]
    for op, a, b in re.findall(r"([MmHh])(-?[\d.]+)(?: (-?[\d.]+))?", path):
        if op == "M":
            x, y = float(a), float(b)
        elif op == "m":
            x, y = x + float(a), y + float(b)
        else:
            for col in range(int(x), int(x + float(a))):
                grid[int(y)][col] = True
            x += float(a)
    border = 4
    assert not any(grid[r][c] for r in range(size) for c in range(size) if min(r, c) < border or max(r, c) >= size - border)
    return [row[border : size - border] for row in grid[border : size - border]]


def _png_matrix(png: bytes, n: int) -> Matrix:
    image = Image.open(io.BytesIO(png)).convert("L")
    scale = image.width // (n + 8)
    assert image.width == image.height == (n + 8) * scale
    grid = [[image.getpixel(((c + 0.5) * scale, (r + 0.5) * scale)) < 128 for c in range(n + 8)] for r in range(n + 8)]
    assert not any(grid[r][c] for r in range(n + 8) for c in range(n + 8) if min(r, c) < 4 or max(r, c) >= n + 4)
    return [row[4 : n + 4] for row in grid[4 : n + 4]]


def _pdf_matrix(pdf: bytes, n: int) -> Matrix:
    """The QR code drawn on a one-slip PDF: its filled rectangles (`x y w h re f`), one per run of dark
    modules, mapped back to modules."""
    content = PdfReader(io.BytesIO(pdf)).pages[0].get_contents().get_data().decode("latin-1")  # type: ignore[union-attr]
    rects = [tuple(map(float, m)) for m in re.findall(r"(-?[\d.]+) (-?[\d.]+) (-?[\d.]+) (-?[\d.]+) re f", content)]
    assert rects
    left = min(r[0] for r in rects)
    top = max(r[1] for r in rects)  # PDF's y grows upwards; fpdf2 gives h < 0 from the top edge
    module = abs(rects[0][3])
    grid = [[False] * n for _ in range(n)]
    for x, y, w, _h in rects:
        row = round((top - y) / module)
        start = round((x - left) / module)
        for col in range(start, start + round(w / module)):
            grid[row][col] = True
    return grid


def _pdf_text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def _token_of(url: str) -> public_token.PublicToken:
    assert url.startswith(f"{BASE}/tra-cuu/q/")
    found = public_token.verify(SECRET.encode(), unquote(url.rsplit("/", 1)[1]))
    assert found is not None
    return found


# ----------------------------------------------------------------------------------------------- workflow


def test_the_code_is_the_dossiers_signed_link_at_level_q_with_its_quiet_zone(qsvc: Service) -> None:
    _seed(qsvc, *_receipts())
    workflow = QrWorkflow(qsvc)
    link = workflow.link(CODE)
    assert _token_of(link.url) == public_token.PublicToken(CODE, date(2026, 12, 1))  # the clock's day
    assert link.url == public_url(qsvc.settings, CODE, date(2026, 12, 1))
    expected = _expected(link.url)
    svg = workflow.qr(CODE, QrFormat.SVG)
    assert svg.media_type == "image/svg+xml"
    assert _svg_matrix(svg.content.decode()) == expected
    png = workflow.qr(CODE, QrFormat.PNG)
    assert png.content.startswith(b"\x89PNG") and _png_matrix(png.content, len(expected)) == expected
    # Another dossier's code, or the same link at level M, is another matrix: the comparison can fail.
    other = workflow.link("000.00.30.H26-261120-0002").url
    assert _expected(other) != expected
    assert [[bool(v) for v in r] for r in segno.make_qr(link.url, error="m", boost_error=False).matrix] != expected
    # Typed in lower case, as phones do: the same dossier.
    assert workflow.link(CODE.lower()).url == link.url


def test_the_slip_is_an_a6_page_with_the_code_the_date_the_address_and_the_agency(qsvc: Service) -> None:
    _seed(qsvc, *_receipts())
    done = QrWorkflow(qsvc).qr(CODE, QrFormat.PDF)
    assert done.media_type == "application/pdf" and done.filename == f"phieu-qr-{CODE}.pdf"
    reader = PdfReader(io.BytesIO(done.content))
    [page] = reader.pages
    assert (round(float(page.mediabox.width) * 25.4 / 72), round(float(page.mediabox.height) * 25.4 / 72)) == (105, 148)
    text = _pdf_text(done.content)
    for expected in (
        "Quét mã để theo dõi hồ sơ",
        f"Mã hồ sơ: {CODE}",
        "Ngày hẹn trả kết quả: 04/12/2026",
        f"{BASE}/tra-cuu",
        "Sở Tư pháp thành phố Hải Phòng",
    ):
        assert expected in text, (expected, text)
    url = QrWorkflow(qsvc).link(CODE).url
    expected_matrix = _expected(url)
    assert _pdf_matrix(done.content, len(expected_matrix)) == expected_matrix


def test_the_days_slips_are_the_agencys_receipts_of_that_day_four_to_a_sheet(qsvc: Service) -> None:
    _seed(qsvc, *_receipts(), dossier("000.00.31.H26-261120-0001", MaDonVi="000.00.31.H26", TenDonVi="Sở Xây dựng thành phố Hải Phòng"))
    done = QrWorkflow(qsvc).day_slips(AGENCY, "20/11/2026")
    assert done.count == 3 and done.filename == f"phieu-qr-{AGENCY}-20261120.pdf"
    reader = PdfReader(io.BytesIO(done.content))
    assert len(reader.pages) == 1 and round(float(reader.pages[0].mediabox.width) * 25.4 / 72) == 210  # A4
    text = _pdf_text(done.content)
    codes = re.findall(r"Mã hồ sơ: (\S+)", text)
    assert codes == [CODE, "000.00.30.H26-261120-0002", "000.00.30.H26-261120-0003"]  # in the order received
    assert "04/12/2026" in text and "07/12/2026" in text and "08/12/2026" in text and f"{BASE}/tra-cuu" in text
    # The next day's receipt is on the next day's sheet, and ISO dates are read too.
    assert re.findall(r"Mã hồ sơ: (\S+)", _pdf_text(QrWorkflow(qsvc).day_slips(AGENCY, "2026-11-21").content)) == [
        "000.00.30.H26-261121-0001"
    ]


def test_unknown_dossier_agency_bad_date_and_empty_day_are_named(qsvc: Service) -> None:
    from notifier.workflows.errors import InvalidInput, NotFound

    _seed(qsvc, *_receipts())
    workflow = QrWorkflow(qsvc)
    with pytest.raises(NotFound, match=re.escape("field MaHoSo: value 'KHONG-CO-123': no such dossier")):
        workflow.qr("KHONG-CO-123", QrFormat.SVG)
    with pytest.raises(NotFound, match=re.escape("field MaDonVi: value 'NOPE': no such agency")):
        workflow.day_slips("NOPE", "20/11/2026")
    with pytest.raises(NotFound, match=re.escape(f"value '22/11/2026': agency {AGENCY} received no dossiers that day")):
        workflow.day_slips(AGENCY, "22/11/2026")
    with pytest.raises(InvalidInput, match="field date: value '31/02/2026': not a date"):
        workflow.day_slips(AGENCY, "31/02/2026")


# ------------------------------------------------------------------------------------------------------ API


def test_api_gives_the_code_the_slip_and_the_days_slips(qsvc: Service) -> None:
    _seed(qsvc, *_receipts())
    with qsvc.factory() as session, session.begin():
        key = create_key(session, "desk", qsvc.clock.now())
    client = TestClient(create_app(qsvc))
    auth = {"Authorization": f"Bearer {key}"}
    url = QrWorkflow(qsvc).link(CODE).url
    expected = _expected(url)

    assert client.get(f"/api/v1/dossiers/{CODE}/qr").status_code == 401
    svg = client.get(f"/api/v1/dossiers/{CODE}/qr", headers=auth)
    assert svg.status_code == 200 and svg.headers["content-type"] == "image/svg+xml"
    assert _svg_matrix(svg.text) == expected
    png = client.get(f"/api/v1/dossiers/{CODE}/qr?format=png", headers=auth)
    assert png.headers["content-type"] == "image/png" and _png_matrix(png.content, len(expected)) == expected
    pdf = client.get(f"/api/v1/dossiers/{CODE}/qr?format=pdf", headers=auth)
    assert pdf.headers["content-type"] == "application/pdf"
    assert f"Mã hồ sơ: {CODE}" in _pdf_text(pdf.content) and "04/12/2026" in _pdf_text(pdf.content)
    assert client.get(f"/api/v1/dossiers/{CODE}/qr?format=gif", headers=auth).status_code == 422

    unknown = client.get("/api/v1/dossiers/KHONG-CO-123/qr", headers=auth)
    assert unknown.status_code == 404
    assert unknown.json() == {"detail": [{"field": "MaHoSo", "value": "KHONG-CO-123", "reason": "no such dossier"}]}

    day = client.get(f"/api/v1/agencies/{AGENCY}/qr-slips", params={"date": "20/11/2026"}, headers=auth)
    assert day.status_code == 200 and day.headers["content-type"] == "application/pdf"
    assert day.headers["x-slip-count"] == "3"
    assert len(re.findall(r"Mã hồ sơ: ", _pdf_text(day.content))) == 3
    empty = client.get(f"/api/v1/agencies/{AGENCY}/qr-slips", params={"date": "22/11/2026"}, headers=auth)
    assert empty.status_code == 404
    assert empty.json()["detail"][0]["reason"] == f"agency {AGENCY} received no dossiers that day: no slips to print"
    assert client.get("/api/v1/agencies/NOPE/qr-slips", params={"date": "20/11/2026"}, headers=auth).status_code == 404
    assert client.get(f"/api/v1/agencies/{AGENCY}/qr-slips", params={"date": "hôm nay"}, headers=auth).status_code == 422


# ------------------------------------------------------------------------------------------------------ CLI


def _cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_notifier(cwd, *args, env=notifier_env(NOTIFIER_PUBLIC_LINK_SECRET=SECRET))


def test_cli_prints_the_code_the_slip_and_the_days_slips(db_url: str, tmp_path: Path, clock: FixedClock) -> None:
    svc = migrated_service(db_url, tmp_path, clock)
    try:
        _seed(svc, *_receipts())
    finally:
        svc.engine.dispose()
    (tmp_path / "config.toml").write_text(f'[database]\nurl = "{db_url}"\n[public]\nbase_url = "{BASE}/"\n', encoding="utf-8")

    svg = _cli(tmp_path, "qr", CODE, "--now", "2027-01-05T10:00")
    assert svg.returncode == 0, svg.stderr
    matrix = _svg_matrix(svg.stdout)
    # --now is the day the link is issued: the code is exactly that day's link.
    assert matrix == _expected(f"{BASE}/tra-cuu/q/{public_token.sign(SECRET.encode(), CODE, date(2027, 1, 5))}")
    assert matrix != _expected(f"{BASE}/tra-cuu/q/{public_token.sign(SECRET.encode(), CODE, date(2026, 12, 1))}")

    png = _cli(tmp_path, "qr", CODE, "--format", "png", "--out", "qr.png", "--now", "2027-01-05T10:00")
    assert png.returncode == 0, png.stderr
    assert _png_matrix((tmp_path / "qr.png").read_bytes(), len(matrix)) == matrix

    slip = _cli(tmp_path, "qr", CODE, "--format", "pdf", "--out", "slip.pdf")
    assert slip.returncode == 0 and "the slip written to slip.pdf" in slip.stdout, slip.stderr
    text = _pdf_text((tmp_path / "slip.pdf").read_bytes())
    assert f"Mã hồ sơ: {CODE}" in text and "Ngày hẹn trả kết quả: 04/12/2026" in text and f"{BASE}/tra-cuu" in text

    day = _cli(tmp_path, "qr", "--agency", AGENCY, "--date", "20/11/2026", "--out", "slips.pdf")
    assert day.returncode == 0 and "3 slips written to slips.pdf" in day.stdout, day.stderr
    assert len(re.findall("Mã hồ sơ: ", _pdf_text((tmp_path / "slips.pdf").read_bytes()))) == 3

    unknown = _cli(tmp_path, "qr", "KHONG-CO-123")
    assert unknown.returncode == 1 and "MaHoSo 'KHONG-CO-123': no such dossier" in unknown.stderr
    empty = _cli(tmp_path, "qr", "--agency", AGENCY, "--date", "22/11/2026", "--out", "none.pdf")
    assert empty.returncode == 1 and f"agency {AGENCY} received no dossiers that day" in empty.stderr
    assert not (tmp_path / "none.pdf").exists()
    needs_out = _cli(tmp_path, "qr", CODE, "--format", "pdf")
    assert needs_out.returncode == 2 and "need --out FILE" in needs_out.stderr
    assert _cli(tmp_path, "qr", CODE, "--agency", AGENCY, "--date", "20/11/2026", "--out", "x.pdf").returncode == 2


def test_a_code_with_a_slash_gets_no_link_and_does_not_cost_the_day_its_other_slips(qsvc: Service) -> None:
    from notifier.workflows.errors import WrongState

    # The portal allows "/" in codes; the public link's token does not (notifier.rules.public_token).
    _seed(qsvc, *_receipts(), dossier("HS/2026/0001", NgayTiepNhan=ts(2026, 11, 20, 9, 0)))
    with pytest.raises(WrongState, match=re.escape("field MaHoSo: value 'HS/2026/0001': no public link for this code")):
        QrWorkflow(qsvc).qr("HS/2026/0001", QrFormat.SVG)
    done = QrWorkflow(qsvc).day_slips(AGENCY, "20/11/2026")
    assert done.count == 3 and done.skipped == ("HS/2026/0001",)
    assert "HS/2026/0001" not in _pdf_text(done.content)
    with qsvc.factory() as session, session.begin():
        key = create_key(session, "desk", qsvc.clock.now())
    day = TestClient(create_app(qsvc)).get(
        f"/api/v1/agencies/{AGENCY}/qr-slips", params={"date": "20/11/2026"}, headers={"Authorization": f"Bearer {key}"}
    )
    assert day.status_code == 200 and day.headers["x-slips-skipped"] == "HS/2026/0001"
