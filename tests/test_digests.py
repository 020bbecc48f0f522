"""Daily digests: who gets one, when, and exactly which dossiers each lists, most urgent first."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from notifier.rules.clock import VN_TZ, FixedClock
from notifier.store.models import Notification
from notifier.workflows.ingest import upsert
from notifier.workflows.officer_import import upsert_officers
from notifier.workflows.service import Service
from tests.conftest import chat_service
from tests.factories import dossier, officers, ts

OTHER = "000.00.31.H26"


def _seed(service: Service) -> None:
    staff = [
        *officers(),
        {"MaCanBo": "XD01", "HoTen": "Lê Văn Hải", "MaDonVi": OTHER, "TenDonVi": "Sở Xây dựng", "SoDienThoai": "0912000009"},
        {"MaCanBo": "KH01", "HoTen": "Đỗ Thị Mai", "MaDonVi": "000.00.32.H26", "TenDonVi": "Sở Tài chính", "SoDienThoai": "0912000010"},
    ]
    # Now is Tuesday 01/12/2026 09:00.
    items = [
        dossier("D-LATE", MaCanBo="CB01", NgayHenTra=ts(2026, 11, 27, 17, 0)),
        dossier("D-TODAY", MaCanBo="CB01", NgayHenTra=ts(2026, 12, 1, 17, 0)),
        dossier("D-SOON", MaCanBo="CB01", NgayHenTra=ts(2026, 12, 4, 17, 0)),
        dossier("D-FAR", MaCanBo="CB01", NgayHenTra=ts(2026, 12, 7, 17, 0)),
        dossier("D-OTHER", MaCanBo="CB02", NgayHenTra=ts(2026, 12, 2, 17, 0), ChuHoSo="Trần Thị Bình"),
        dossier("D-UNASSIGNED", NgayHenTra=ts(2026, 12, 3, 17, 0)),
        dossier("D-DONE", MaCanBo="CB01", TrangThaiHoSo=10, NgayHenTra=ts(2026, 11, 30, 17, 0), NgayTra=ts(2026, 11, 30, 9, 0)),
        dossier("D-PAUSED", MaCanBo="CB01", TrangThaiHoSo=5, NgayHenTra=ts(2026, 11, 30, 17, 0)),
        dossier("D-ELSEWHERE", MaDonVi=OTHER, TenDonVi="Sở Xây dựng", MaCanBo="XD01", NgayHenTra=ts(2026, 12, 2, 17, 0)),
    ]
    with service.factory() as session, session.begin():
        assert not upsert_officers(session, staff).errors
        report = upsert(session, items, service.clock.now(), source="test")
        assert not report.errors, report.errors


def _digests(service: Service) -> list[Notification]:
    with service.factory() as session:
        return list(
            session.scalars(
                select(Notification)
                .where(Notification.kind.in_(["officer_digest", "head_digest"]))
                .order_by(Notification.id)
            )
        )


def _sent(service: Service, tmp_path: Path) -> dict[tuple[str, str], str]:
    asyncio.run(service.dispatcher.drain())
    out: dict[tuple[str, str], str] = {}
    for line in (tmp_path / "outbox.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row["kind"].endswith("_digest"):
            out[(row["kind"], row["recipient"])] = row["text"]
    return out


def _codes_in_order(text: str, codes: list[str]) -> None:
    positions = [text.index(f". {c} - ") for c in codes]
    assert positions == sorted(positions), text


def test_each_officer_and_head_gets_one_digest_listing_exactly_their_dossiers(svc: Service, tmp_path: Path) -> None:
    _seed(svc)
    svc.scan()
    by_officer = {(n.kind, n.officer.code if n.officer else None) for n in _digests_with_officers(svc)}
    # KH01 has nothing due: no digest (send_empty is off by default).
    assert by_officer == {
        ("officer_digest", "CB01"),
        ("officer_digest", "CB02"),
        ("officer_digest", "XD01"),
        ("head_digest", "LD01"),
    }
    sent = _sent(svc, tmp_path)
    cb01 = sent[("officer_digest", "+84912000001")]
    assert cb01.startswith("Tổng hợp hồ sơ ngày 01/12/2026 - Sở Tư pháp thành phố Hải Phòng\nĐồng chí Nguyễn Thị Thu Hà,")
    assert "Đồng chí có 4 hồ sơ sắp đến hạn hoặc đã quá hạn:" in cb01
    assert (
        "1. D-LATE - Cấp Thẻ công chứng viên\n"
        "   Người nộp: Nguyễn Văn An; hẹn trả 27/11/2026; quá hạn 2 ngày làm việc"
    ) in cb01
    assert "2. D-TODAY - Cấp Thẻ công chứng viên\n   Người nộp: Nguyễn Văn An; hẹn trả 01/12/2026; đến hạn hôm nay" in cb01
    assert "3. D-UNASSIGNED" in cb01 and "hẹn trả 03/12/2026; còn 2 ngày làm việc" in cb01
    assert "4. D-SOON" in cb01 and "hẹn trả 04/12/2026; còn 3 ngày làm việc" in cb01
    for absent in ("D-FAR", "D-OTHER", "D-DONE", "D-PAUSED", "D-ELSEWHERE"):
        assert absent not in cb01
    # Name only: no phone number or e-mail of the applicant in a staff digest.
    assert "091" not in cb01 and "@" not in cb01

    cb02 = sent[("officer_digest", "+84912000002")]
    assert "Đồng chí có 2 hồ sơ" in cb02
    _codes_in_order(cb02, ["D-OTHER", "D-UNASSIGNED"])
    assert "Người nộp: Trần Thị Bình; hẹn trả 02/12/2026; còn 1 ngày làm việc" in cb02

    head = sent[("head_digest", "+84912000003")]
    assert "Đơn vị có 4 hồ sơ sắp đến hạn và 1 hồ sơ quá hạn:" in head
    _codes_in_order(head, ["D-LATE", "D-TODAY", "D-OTHER", "D-UNASSIGNED", "D-SOON"])
    assert "D-ELSEWHERE" not in head and "D-FAR" not in head

    xd01 = sent[("officer_digest", "+84912000009")]
    assert "D-ELSEWHERE" in xd01 and "Sở Xây dựng" in xd01 and "D-LATE" not in xd01


def _digests_with_officers(service: Service) -> list[Notification]:
    from sqlalchemy.orm import selectinload

    with service.factory() as session:
        return list(
            session.scalars(
                select(Notification)
                .where(Notification.kind.in_(["officer_digest", "head_digest"]))
                .options(selectinload(Notification.officer))
            )
        )


def test_digest_goes_out_once_a_working_day_from_the_configured_time(svc: Service, clock: FixedClock) -> None:
    _seed(svc)
    clock.set(datetime(2026, 12, 1, 7, 30, tzinfo=VN_TZ))
    svc.scan()
    assert _digests(svc) == []  # before [digest] at = 07:45
    clock.set(datetime(2026, 12, 1, 7, 45, tzinfo=VN_TZ))
    svc.scan()
    first = len(_digests(svc))
    assert first == 4
    clock.set(datetime(2026, 12, 1, 15, 0, tzinfo=VN_TZ))
    svc.scan()
    assert len(_digests(svc)) == first  # the day's key is taken
    clock.set(datetime(2026, 12, 5, 9, 0, tzinfo=VN_TZ))  # Saturday
    svc.scan()
    assert len(_digests(svc)) == first
    clock.set(datetime(2026, 12, 7, 8, 0, tzinfo=VN_TZ))  # Monday
    svc.scan()
    rows = _digests(svc)
    assert len(rows) > first
    days = {json.loads(n.payload or "{}")["day"] for n in rows}
    assert days == {"2026-12-01", "2026-12-07"}


def test_the_window_is_counted_in_working_days(db_url: str, tmp_path: Path, clock: FixedClock) -> None:
    svc = chat_service(db_url, tmp_path, clock, digest={"due_soon_working_days": 1})
    try:
        _seed(svc)
        svc.scan()
        sent = _sent(svc, tmp_path)
        cb01 = sent[("officer_digest", "+84912000001")]
        assert "D-LATE" in cb01 and "D-TODAY" in cb01
        assert "D-UNASSIGNED" not in cb01 and "D-SOON" not in cb01  # 2 and 3 working days left
        assert ("officer_digest", "+84912000002") in sent  # D-OTHER: 1 working day left
    finally:
        svc.engine.dispose()


def test_send_empty_also_tells_officers_with_nothing_due(db_url: str, tmp_path: Path, clock: FixedClock) -> None:
    svc = chat_service(db_url, tmp_path, clock, digest={"send_empty": True})
    try:
        _seed(svc)
        svc.scan()
        sent = _sent(svc, tmp_path)
        assert sent[("officer_digest", "+84912000010")].endswith("Đồng chí không có hồ sơ sắp đến hạn hoặc quá hạn.")
    finally:
        svc.engine.dispose()


def test_digests_can_be_switched_off(db_url: str, tmp_path: Path, clock: FixedClock) -> None:
    svc = chat_service(db_url, tmp_path, clock, digest={"enabled": False})
    try:
        _seed(svc)
        svc.scan()
        assert _digests(svc) == []
    finally:
        svc.engine.dispose()


def test_digest_items_match_the_template_schema(svc: Service) -> None:
    from notifier.outbox.digests import digest_items
    from notifier.rules.payloads import DigestPayload, parse_payload
    from notifier.rules.rendering import SCHEMA

    _seed(svc)
    svc.scan()
    with svc.factory() as session:
        head = session.scalar(select(Notification).where(Notification.kind == "head_digest"))
        assert head is not None
        payload = parse_payload(head.kind, head.payload)
        assert isinstance(payload, DigestPayload)
        items = digest_items(session, head.kind, head.officer, payload.until, svc.calendar, svc.clock.now())
    assert [i.code for i in items] == ["D-LATE", "D-TODAY", "D-OTHER", "D-UNASSIGNED", "D-SOON"]
    assert all(set(vars(i)) == SCHEMA["items"] for i in items)
    assert (items[0].working_days_overdue, items[0].working_days_left) == (2, None)
    assert (items[-1].working_days_overdue, items[-1].working_days_left) == (None, 3)


def test_digest_lists_the_dossiers_as_they_are_when_it_is_sent(svc: Service, clock: FixedClock, tmp_path: Path) -> None:
    _seed(svc)
    svc.scan()
    # Between the scan and the send D-LATE is returned: it no longer belongs in the list.
    clock.advance(timedelta(minutes=5))
    with svc.factory() as session, session.begin():
        upsert(
            session,
            [dossier("D-LATE", MaCanBo="CB01", TrangThaiHoSo=10, NgayHenTra=ts(2026, 11, 27, 17, 0), NgayTra=ts(2026, 12, 1, 9, 3))],
            clock.now(),
            "t",
        )
    cb01 = _sent(svc, tmp_path)[("officer_digest", "+84912000001")]
    assert "D-LATE" not in cb01 and "Đồng chí có 3 hồ sơ" in cb01
