"""Import files: encodings found or refused with the file and the encoding expected, an empty file is an
error, a MaHoSo given twice is a warning naming the row that won, row numbers run across batches."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from sqlalchemy import select

from notifier.store.models import Dossier
from notifier.workflows.import_files import items
from notifier.workflows.ingest import ImportWorkflow
from notifier.workflows.service import Service
from tests.cli_process import run_notifier
from tests.factories import dossier

FIELDS = ["MaHoSo", "MaTTHC", "TenTTHC", "ChuHoSo", "SoDienThoai", "NgayHenTra", "TrangThaiHoSo", "MaDonVi"]


def _csv(rows: list[dict[str, object]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-8-sig", "utf-8"])
def test_utf16_and_utf8_files_are_read(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "hoso.csv"
    path.write_text(_csv([dossier("A-1"), dossier("A-2")]), encoding=encoding)
    got = list(items(path))
    assert [r["MaHoSo"] for r in got] == ["A-1", "A-2"]
    assert got[0]["ChuHoSo"] == "Nguyễn Văn An"


def test_utf16_json_is_read(tmp_path: Path) -> None:
    path = tmp_path / "hoso.json"
    path.write_text(json.dumps({"data": [dossier("J-1")]}, ensure_ascii=False), encoding="utf-16")
    assert [r["MaHoSo"] for r in items(path)] == ["J-1"]


def test_a_cp1258_file_is_refused_with_the_file_line_and_encoding_expected(tmp_path: Path) -> None:
    path = tmp_path / "windows.csv"
    text = _csv([dossier("W-1", ChuHoSo="Trần Thị Bình")])  # cp1258 has these as base letter + combining mark
    import unicodedata

    path.write_bytes(unicodedata.normalize("NFD", text).encode("cp1258", errors="ignore"))
    with pytest.raises(ValueError) as exc:
        items(path)
    message = str(exc.value)
    assert f"file '{path}'" in message and "not valid UTF-8" in message and "line 2" in message
    assert "save it as UTF-8" in message and "cp1258" in message


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("e.csv", ""),
        ("h.csv", ",".join(FIELDS) + "\n"),
        ("e.json", ""),
        ("l.json", "[]"),
        ("d.json", '{"data": []}'),
    ],
)
def test_an_empty_file_is_an_error(tmp_path: Path, name: str, content: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match="no items"):
        items(path)


def test_a_code_given_twice_warns_and_the_later_row_wins(service: Service) -> None:
    rows = [dossier("D-1", ChuHoSo="Người Thứ Nhất"), dossier("D-2"), dossier("D-1", ChuHoSo="Người Thứ Hai")]
    report = ImportWorkflow(service).dossiers(rows, "test", batch_rows=2)  # the two rows in different batches
    assert report.errors == []
    assert report.warnings == ["row 3: field MaHoSo: value 'D-1': also at row 1; row 3 (the later) won"]
    with service.factory() as session:
        assert session.scalar(select(Dossier.applicant_name).where(Dossier.code == "D-1")) == "Người Thứ Hai"


def test_rows_are_numbered_across_batches(service: Service) -> None:
    rows = [dossier(f"B-{i}") for i in range(5)] + [dossier("B-bad", SoDienThoai="12ab")]
    report = ImportWorkflow(service).dossiers(rows, "test", batch_rows=2)
    assert report.created == 5
    [error] = report.errors
    assert (error.row, error.code, error.field) == (6, "B-bad", "SoDienThoai")


def test_the_cli_refuses_an_empty_file_with_a_message(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(
        f'[database]\nurl = "sqlite:///{tmp_path}/n.db"\n', encoding="utf-8"
    )
    (tmp_path / "empty.csv").write_text("", encoding="utf-8")
    done = run_notifier(tmp_path, "import", "empty.csv")
    assert done.returncode == 2
    assert "empty.csv" in done.stderr and "no items" in done.stderr


def test_a_number_too_long_to_read_names_the_file(tmp_path: Path) -> None:
    # Python's limit on integer digits raised a ValueError of its own, printed without the file's name and
    # with advice for programmers ("use sys.set_int_max_str_digits()").
    path = tmp_path / "d.json"
    path.write_text('[{"MaHoSo": "X-1", "TrangThaiHoSo": 1' + "0" * 5000 + "}]", encoding="utf-8")
    with pytest.raises(ValueError) as caught:
        items(path)
    assert str(caught.value) == f"file '{path}': not valid JSON: a number of more than 4300 digits"


def test_a_rejected_value_is_shown_shortened_with_its_length(tmp_path: Path, sqlite_template: Path) -> None:
    # A 100,000-character ChuHoSo was printed whole: the terminal filled with it, the reason lost at its end.
    import shutil

    shutil.copyfile(sqlite_template, tmp_path / "n.db")
    (tmp_path / "config.toml").write_text(
        f'[database]\nurl = "sqlite:///{tmp_path}/n.db"\n', encoding="utf-8"
    )
    (tmp_path / "d.csv").write_text(_csv([dossier("L-1", ChuHoSo="Nguyễn" + "x" * 99_994)]), encoding="utf-8")
    done = run_notifier(tmp_path, "import", "d.csv")
    assert done.returncode == 1
    assert done.stderr == (
        f"rejected: row 1 (MaHoSo L-1): field ChuHoSo: value 'Nguyễn{'x' * 74}…' (100000 characters): "
        "String should have at most 255 characters\n"
    )


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig"])
def test_a_nul_byte_in_a_utf8_file_is_named_as_such(tmp_path: Path, encoding: str) -> None:
    # One NUL byte made the file "UTF-16 without a mark", refused as "not valid UTF-16-BE".
    path = tmp_path / "hoso.csv"
    path.write_text(
        _csv([dossier("N-1"), dossier("N-2", ChuHoSo="Trần\x00Bình"), dossier("N-3")]), encoding=encoding
    )
    with pytest.raises(ValueError) as caught:
        items(path)
    message = str(caught.value)
    assert message.startswith(f"file '{path}': contains a NUL byte (at offset "), message
    assert "line 3)" in message and "UTF-16" not in message


def test_csv_columns_in_another_letter_case_are_read_as_the_portals(tmp_path: Path, service: Service) -> None:
    # An Excel export with "MAHOSO", "mattHC", " ChuHoSo ": every row was rejected, five lines each.
    from notifier.workflows.ingest import portal_file

    text = _csv([dossier("C-1"), dossier("C-2")])
    header, rest = text.split("\n", 1)
    renamed = {
        "MaHoSo": "MAHOSO",
        "MaTTHC": "mattHC",
        "ChuHoSo": " ChuHoSo ",
        "TrangThaiHoSo": "trangthaihoso",
    }
    path = tmp_path / "hoso.csv"
    path.write_text(",".join(renamed.get(h, h) for h in header.split(",")) + "\n" + rest, encoding="utf-8")
    done = ImportWorkflow(service).portal_items(portal_file(path), "test")
    assert (done.report.created, done.report.errors) == (2, [])
    with service.factory() as session:
        assert session.scalar(select(Dossier.applicant_name).where(Dossier.code == "C-1")) == "Nguyễn Văn An"


def test_a_csv_header_without_the_needed_columns_is_one_error(tmp_path: Path, sqlite_template: Path) -> None:
    import shutil

    shutil.copyfile(sqlite_template, tmp_path / "n.db")
    (tmp_path / "config.toml").write_text(
        f'[database]\nurl = "sqlite:///{tmp_path}/n.db"\n', encoding="utf-8"
    )
    text = _csv([dossier(f"H-{i}") for i in range(20)])
    header, rest = text.split("\n", 1)
    renamed = {"MaHoSo": "Mã hồ sơ", "TenTTHC": "Tên thủ tục"}
    (tmp_path / "d.csv").write_text(
        ",".join(renamed.get(h, h) for h in header.split(",")) + "\n" + rest, encoding="utf-8"
    )
    done = run_notifier(tmp_path, "import", "d.csv")
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == (
        "error: file 'd.csv': header (line 1): missing column MaHoSo, TenTTHC; not known: Mã hồ sơ, Tên thủ tục "
        "(columns are named as the import format's fields, e.g. MaHoSo, in any letter case)\n"
    )


def test_officer_csv_columns_are_read_in_any_letter_case(tmp_path: Path) -> None:
    from notifier.workflows.ingest import officers_file

    path = tmp_path / "canbo.csv"
    path.write_text(
        "MACANBO,hoten,MaDonVi,email\nCB01,Trần Thị Bình,000.00.30.H26,b@x.vn\n", encoding="utf-8"
    )
    assert officers_file(path) == [
        {"MaCanBo": "CB01", "HoTen": "Trần Thị Bình", "MaDonVi": "000.00.30.H26", "Email": "b@x.vn"}
    ]
    path.write_text("Ma can bo,HoTen,MaDonVi\nCB01,Trần Thị Bình,000.00.30.H26\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"header \(line 1\): missing column MaCanBo; not known: Ma can bo"):
        officers_file(path)
