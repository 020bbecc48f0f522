"""Inter-agency steps: progress items in, a step past its own deadline alerts its unit, late dossiers blamed."""

from __future__ import annotations

import asyncio
import json
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from notifier.rules.clock import VN_TZ
from notifier.store.apikeys import create_key
from notifier.store.models import Dossier, DossierStep, Notification
from notifier.web.api import create_app
from notifier.workflows.ingest import upsert
from notifier.workflows.officer_import import upsert_officers
from notifier.workflows.service import Service
from notifier.workflows.steps import late_steps, upsert_progress
from tests.cli_process import run_notifier
from tests.factories import dossier, officers, ts

NNMT = "000.00.40.H26"
NNMT_NAME = "Sở Nông nghiệp và Môi trường"


def _staff() -> list[dict]:
    return [
        *officers(),
        {"MaCanBo": "MT00", "HoTen": "Vũ Thị Lan", "MaDonVi": NNMT, "TenDonVi": NNMT_NAME, "LaLanhDao": 1, "SoDienThoai": "0912000020"},
        {"MaCanBo": "MT01", "HoTen": "Trần Minh Đức", "MaDonVi": NNMT, "TenDonVi": NNMT_NAME, "SoDienThoai": "0912000021"},
        {"MaCanBo": "MT02", "HoTen": "Hoàng Văn Nam", "MaDonVi": NNMT, "TenDonVi": NNMT_NAME, "SoDienThoai": "0912000022"},
    ]


def step(code: str, unit: str, start: str, deadline: str | None, done: str | None = None, **extra: object) -> dict:
    item = {
        "MaHoSo": code,
        "NguoiXuLy": "Trần Minh Đức",
        "ChucDanh": "Chuyên viên",
        "PhongBanXuLy": unit,
        "NoiDungXuLy": "Thẩm định hồ sơ đất đai",
        "TrangThai": 4,
        "NgayBatDau": start,
        "NgayKetThucTheoQuyDinh": deadline or "",
        "ThoiDiemXuLy": done or "",
    }
    item.update(extra)
    return item


def _seed(service: Service) -> None:
    # Now is Tuesday 01/12/2026 09:00; every dossier is itself on time.
    items = [
        dossier("S1", MaCanBo="CB01", NgayHenTra=ts(2026, 12, 10, 17, 0)),
        dossier("S2", NgayHenTra=ts(2026, 12, 15, 17, 0)),
        dossier("S3", NgayHenTra=ts(2026, 12, 15, 17, 0)),
        dossier("S4", TrangThaiHoSo=10, NgayTra=ts(2026, 11, 30, 9, 0), NgayHenTra=ts(2026, 12, 15, 17, 0)),
        dossier("S5", NgayHenTra=ts(2026, 12, 15, 17, 0)),
    ]
    with service.factory() as session, session.begin():
        assert not upsert_officers(session, _staff()).errors
        assert not upsert(session, items, service.clock.now(), "test").errors


PROGRESS = [
    # Overdue since Friday 27/11, still open: the other agency's officers (not its head) are alerted.
    step("S1", NNMT_NAME, ts(2026, 11, 20, 8, 0), ts(2026, 11, 27, 17, 0), MaDonViXuLy=NNMT),
    # Finished on time.
    step("S1", "Phòng Hành chính tư pháp", ts(2026, 11, 18, 8, 0), ts(2026, 11, 19, 17, 0), ts(2026, 11, 19, 16, 0)),
    # The unit found by name; a named handler gets it alone.
    step("S2", NNMT_NAME, ts(2026, 11, 23, 8, 0), ts(2026, 11, 30, 17, 0), MaCanBoXuLy="MT02"),
    # A unit notifier does not know: the dossier's own agency is alerted.
    step("S3", "Phòng Kinh tế, Hạ tầng và Đô thị phường Thủy Nguyên", ts(2026, 11, 23, 8, 0), ts(2026, 11, 26, 17, 0)),
    # The dossier is already returned: nobody is chased.
    step("S4", NNMT_NAME, ts(2026, 11, 20, 8, 0), ts(2026, 11, 25, 17, 0), MaDonViXuLy=NNMT),
    # Not due yet.
    step("S5", NNMT_NAME, ts(2026, 11, 30, 8, 0), ts(2026, 12, 2, 17, 0), MaDonViXuLy=NNMT),
]


def _alerts(service: Service) -> set[tuple[str, str]]:
    with service.factory() as session:
        rows = session.scalars(
            select(Notification)
            .where(Notification.kind == "step_overdue")
            .options(selectinload(Notification.dossier), selectinload(Notification.officer))
        ).all()
        return {(n.dossier.code, n.officer.code) for n in rows if n.dossier and n.officer}


def test_a_step_past_its_deadline_alerts_its_unit_even_when_the_dossier_is_on_time(svc: Service, tmp_path: Path) -> None:
    _seed(svc)
    with svc.factory() as session, session.begin():
        report = upsert_progress(session, PROGRESS, svc.clock.now(), "test")
    assert (report.created, report.errors) == (6, [])
    svc.scan()
    svc.scan()
    expected = {("S1", "MT01"), ("S1", "MT02"), ("S2", "MT02"), ("S3", "CB01"), ("S3", "CB02")}
    assert _alerts(svc) == expected
    asyncio.run(svc.dispatcher.drain())
    lines = [json.loads(x) for x in (tmp_path / "outbox.jsonl").read_text(encoding="utf-8").splitlines()]
    text = next(x["text"] for x in lines if x["kind"] == "step_overdue" and x["recipient"] == "+84912000021")
    assert text.startswith("Cảnh báo bước xử lý quá hạn - Sở Tư pháp thành phố Hải Phòng\nĐồng chí Trần Minh Đức,")
    assert "Bước xử lý liên thông của hồ sơ S1 đã quá thời hạn quy định 2 ngày làm việc." in text
    assert f"Đơn vị xử lý: {NNMT_NAME}" in text
    assert "Người xử lý: Trần Minh Đức (Chuyên viên)" in text
    assert "Bắt đầu: 20/11/2026; hạn của bước: 27/11/2026" in text
    assert "Ngày hẹn trả kết quả của hồ sơ: 10/12/2026" in text

    # The unit finishes the step: re-sending the item with ThoiDiemXuLy closes it; no alert the next day.
    svc.clock.set(datetime(2026, 12, 3, 9, 0, tzinfo=VN_TZ))  # type: ignore[attr-defined]
    with svc.factory() as session, session.begin():
        again = upsert_progress(
            session,
            [step("S1", NNMT_NAME, ts(2026, 11, 20, 8, 0), ts(2026, 11, 27, 17, 0), ts(2026, 12, 1, 15, 0), MaDonViXuLy=NNMT)],
            svc.clock.now(),
            "test",
        )
        assert (again.created, again.updated) == (0, 1)
        same = upsert_progress(session, PROGRESS[1:2], svc.clock.now(), "test")
        assert same.unchanged == 1
    svc.scan()
    # S5's step came due overnight; S1's closed step does not alert again.
    assert _alerts(svc) == expected | {("S5", "MT01"), ("S5", "MT02")}


def test_bad_progress_items_are_reported_per_field(svc: Service) -> None:
    _seed(svc)
    items = [
        step("NOPE", NNMT_NAME, ts(2026, 11, 20, 8, 0), ts(2026, 11, 27, 17, 0)),
        step("S1", NNMT_NAME, "2026-11-20", ts(2026, 11, 27, 17, 0)),
        step("S1", NNMT_NAME, ts(2026, 11, 20, 8, 0), ts(2026, 11, 19, 17, 0)),
        step("S1", "", ts(2026, 11, 20, 8, 0), None),
        step("S1", NNMT_NAME, ts(2026, 11, 20, 8, 0), ts(2026, 11, 27, 17, 0), MaCanBoXuLy="GHOST"),
    ]
    with svc.factory() as session, session.begin():
        report = upsert_progress(session, items, svc.clock.now(), "test")
    errors = [str(e) for e in report.errors]
    assert errors[0] == "row 1 (MaHoSo NOPE): field MaHoSo: value 'NOPE': unknown dossier (import the dossier first)"
    assert errors[1].startswith("row 2 (MaHoSo S1): field NgayBatDau: value '2026-11-20': expected yyyyMMddHHmmss")
    assert errors[2] == "row 3 (MaHoSo S1): field NgayKetThucTheoQuyDinh: value '20261119170000': before NgayBatDau '20261120080000'"
    assert errors[3].startswith("row 4 (MaHoSo S1): field PhongBanXuLy: value 'None'")
    assert len(errors) == 4 and report.created == 1
    assert report.warnings == ["MaHoSo S1: field MaCanBoXuLy: value 'GHOST': unknown officer; the unit's officers are alerted"]


def _cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_notifier(cwd, *args)


def test_progress_files_go_through_the_same_import_command(svc: Service, tmp_path: Path, db_url: str) -> None:
    _seed(svc)
    (tmp_path / "config.toml").write_text(f'[database]\nurl = "{db_url}"\n', encoding="utf-8")
    (tmp_path / "tiendo.json").write_text(json.dumps({"data": PROGRESS[:2]}), encoding="utf-8")
    found = _cli(tmp_path, "import", "tiendo.json", "--now", "2026-12-01T09:00")
    assert found.returncode == 0, found.stderr
    assert "progress items: 2 created" in found.stdout
    import csv

    with (tmp_path / "tiendo.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(PROGRESS[2]))
        writer.writeheader()
        writer.writerow(PROGRESS[2] | {"MaCanBoXuLy": "MT02"})
    forced = _cli(tmp_path, "import", "tiendo.csv", "--progress", "--now", "2026-12-01T09:00")
    assert forced.returncode == 0, forced.stderr
    assert "progress items: 1 created" in forced.stdout
    with svc.factory() as session:
        assert session.scalar(select(DossierStep).where(DossierStep.unit == NNMT_NAME, DossierStep.officer_id.is_not(None))) is not None


def test_progress_over_the_api(svc: Service) -> None:
    _seed(svc)
    with svc.factory() as session, session.begin():
        key = create_key(session, "portal", svc.clock.now())
    client = TestClient(create_app(svc))
    auth = {"Authorization": f"Bearer {key}"}
    ok = client.post("/api/v1/progress", json={"data": PROGRESS[:1]}, headers=auth)
    assert ok.status_code == 200 and ok.json()["created"] == 1
    bad = client.post("/api/v1/progress", json=[step("NOPE", NNMT_NAME, ts(2026, 11, 20, 8, 0), None)], headers=auth)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "MaHoSo"
    assert client.post("/api/v1/progress", json={"data": []}).status_code == 401


def test_a_late_dossier_is_blamed_on_the_step_that_overran_most(svc: Service) -> None:
    _seed(svc)
    items = [
        # overran by 1 day
        step("S2", "Phòng A", ts(2026, 11, 2, 8, 0), ts(2026, 11, 3, 17, 0), ts(2026, 11, 4, 17, 0)),
        # overran by 3 days
        step("S2", "Phòng B", ts(2026, 11, 5, 8, 0), ts(2026, 11, 6, 17, 0), ts(2026, 11, 9, 17, 0), NguoiXuLy="Lê Thị Hoa"),
        # finished early
        step("S2", "Phòng C", ts(2026, 11, 10, 8, 0), ts(2026, 11, 20, 17, 0), ts(2026, 11, 11, 9, 0)),
        # still open at the end: counts up to the end
        step("S3", "Phòng D", ts(2026, 11, 2, 8, 0), ts(2026, 11, 25, 17, 0)),
        # finished after the end: also counts up to the end only
        step("S3", "Phòng E", ts(2026, 11, 2, 8, 0), ts(2026, 11, 20, 17, 0), ts(2026, 12, 1, 8, 0)),
    ]
    with svc.factory() as session, session.begin():
        assert not upsert_progress(session, items, svc.clock.now(), "t").errors
        ids = dict(session.execute(select(Dossier.code, Dossier.id)).all())
        end = datetime(2026, 11, 30, 0, 0, tzinfo=VN_TZ)
        blame = late_steps(session, [ids["S1"], ids["S2"], ids["S3"]], end)
    assert ids["S1"] not in blame
    assert (blame[ids["S2"]].unit, blame[ids["S2"]].officer) == ("Phòng B", "Lê Thị Hoa")
    assert blame[ids["S2"]].overrun_seconds == timedelta(days=3).total_seconds()
    # D overran 25/11 17:00 → 30/11 00:00; E 20/11 17:00 → its finish is after the end, so → 30/11 00:00.
    assert blame[ids["S3"]].unit == "Phòng E"
    assert blame[ids["S3"]].overrun_seconds == (end - datetime(2026, 11, 20, 17, 0, tzinfo=VN_TZ)).total_seconds()
