"""Incremental scans read only what crossed a threshold or changed; full scans still read everything."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import select, update

from notifier.rules.clock import VN_TZ, FixedClock
from notifier.store.models import Dossier, Notification
from notifier.workflows.ingest import upsert
from notifier.workflows.service import Service
from tests.conftest import migrated_database, migrated_service
from tests.factories import dossier, ts


def _import(service: Service, items: list[dict]) -> None:
    with service.factory() as session, session.begin():
        assert not upsert(session, items, service.clock.now(), source="test").errors


def _apologies(service: Service) -> list[str]:
    with service.factory() as session:
        return sorted(session.scalars(
            select(Dossier.code).join(Notification, Notification.dossier_id == Dossier.id)
            .where(Notification.kind == "overdue_notice")))


def _age(service: Service, code: str, when: datetime) -> None:
    """Pretend the row was last written long ago (as if a scan had missed it)."""
    with service.factory() as session, session.begin():
        session.execute(update(Dossier).where(Dossier.code == code).values(updated_at=when))


def test_a_dossier_coming_due_between_scans_is_found_incrementally(service: Service, clock: FixedClock) -> None:
    _import(service, [dossier("LATER", NgayHenTra=ts(2026, 12, 1, 17, 0))])
    assert service.scan().full  # the first scan reads everything
    clock.set(datetime(2026, 12, 1, 17, 30, tzinfo=VN_TZ))
    result = service.scan()
    assert not result.full and result.queued["overdue_notice"] == 1
    assert _apologies(service) == ["LATER"]


def test_incremental_scan_skips_unchanged_rows_and_a_full_scan_catches_them(
        db_url: str, tmp_path: Path, clock: FixedClock) -> None:
    svc = migrated_service(db_url, tmp_path, clock, scan={"full_every": 3})
    _import(svc, [dossier("FUTURE", NgayHenTra=ts(2026, 12, 20, 17, 0))])
    assert svc.scan().full
    # a row that was already overdue at the last scan and has not changed since (a missed one)
    _import(svc, [dossier("MISSED", NgayHenTra=ts(2026, 11, 25, 17, 0))])
    _age(svc, "MISSED", datetime(2026, 11, 25, 9, 0, tzinfo=VN_TZ))
    clock.advance(timedelta(minutes=30))
    second = svc.scan()
    assert not second.full and _apologies(svc) == []
    clock.advance(timedelta(minutes=30))
    third = svc.scan()
    assert not third.full and _apologies(svc) == []
    clock.advance(timedelta(minutes=30))
    assert svc.scan().full  # every 3rd scan reads everything
    assert _apologies(svc) == ["MISSED"]


def test_a_changed_row_is_read_even_when_its_threshold_passed_long_ago(service: Service,
                                                                      clock: FixedClock) -> None:
    service.scan()
    clock.advance(timedelta(minutes=5))
    _import(service, [dossier("LATE-IMPORT", NgayHenTra=ts(2026, 11, 20, 17, 0))])
    clock.advance(timedelta(minutes=5))
    assert not service.scan().full
    assert _apologies(service) == ["LATE-IMPORT"]


def test_clock_going_back_forces_a_full_scan(service: Service, clock: FixedClock) -> None:
    service.scan()
    clock.set(datetime(2026, 11, 20, 9, 0, tzinfo=VN_TZ))
    assert service.scan().full


def test_incremental_and_full_scans_queue_the_same_set(
    db_url: str, tmp_path: Path, clock: FixedClock, request: pytest.FixtureRequest
) -> None:
    """Over a week of hourly scans, incremental scanning misses nothing a full scan would queue."""
    from notifier.workflows.officer_import import upsert_officers
    from tests.factories import officers

    def run(url: str, full_every: int) -> Counter[str]:
        clock.set(datetime(2026, 11, 30, 8, 0, tzinfo=VN_TZ))
        svc = migrated_service(url, tmp_path, clock, scan={"full_every": full_every})
        with svc.factory() as session, session.begin():
            upsert_officers(session, officers())
        items = [dossier(f"W-{i}", MaCanBo="CB01" if i % 3 else None, TrangThaiHoSo=(2, 4, 6)[i % 3],
                         DaThanhToan=0, NgayTiepNhan=ts(2026, 11, 27, 8, 0),
                         NgayHenTra=ts(2026, 12, 1 + i % 6, 8 + i % 9, 0)) for i in range(30)]
        _import(svc, items)
        for hour in range(24 * 7):
            if hour == 30:  # a mid-week re-plan: some appointments move, one already missed
                _import(svc, [dossier("W-1", MaCanBo="CB01", TrangThaiHoSo=4, NgayTiepNhan=ts(2026, 11, 27, 8, 0),
                                      NgayHenTra=ts(2026, 12, 4, 10, 0)),
                              # a late import whose appointment passed days ago
                              dossier("W-LATE", TrangThaiHoSo=4, NgayTiepNhan=ts(2026, 11, 20, 8, 0),
                                      NgayHenTra=ts(2026, 11, 26, 17, 0))])
            svc.scan()
            clock.advance(timedelta(hours=1))
        with svc.factory() as session:
            kinds = Counter(session.scalars(select(Notification.kind)))
        svc.engine.dispose()
        return kinds

    full = run(db_url, 1)
    # The second week starts from the same just-migrated database as the first.
    backend = "postgresql" if db_url.startswith("postgresql") else "sqlite"
    incremental = run(migrated_database(request, backend, tmp_path / "incremental.db"), 1000)
    assert incremental == full
    assert full["overdue_notice"] >= 10 and full["apology_due"] >= 5 and full["due_soon"] >= 5 and full["payment_reminder"] >= 5


def test_two_schedulers_one_scan_at_a_time_on_postgres(pg_admin_url: str, tmp_path: Path,
                                                        clock: FixedClock) -> None:
    """Advisory locks exist on PostgreSQL only (SQLite has a single writer), so this runs there."""
    from notifier.outbox.scans import SCAN_LOCK_ID
    from tests.conftest import _pg_database

    databases = _pg_database(pg_admin_url)
    url = next(databases)
    try:
        service = migrated_service(url, tmp_path, clock)
        with psycopg.connect(url) as other:
            other.execute("SELECT pg_advisory_xact_lock(%s)", (SCAN_LOCK_ID,))
            assert service.scan().skipped
        assert not service.scan().skipped
        service.engine.dispose()
    finally:
        databases.close()


def test_digests_are_queued_once_a_day_and_a_full_scan_catches_late_officers(
        db_url: str, tmp_path: Path, clock: FixedClock) -> None:
    from notifier.workflows.officer_import import upsert_officers
    from tests.factories import officers

    svc = migrated_service(db_url, tmp_path, clock, scan={"full_every": 3})
    with svc.factory() as session, session.begin():
        upsert_officers(session, officers())

    def digests() -> list[str]:
        with svc.factory() as session:
            return sorted(session.scalars(select(Notification.dedupe_key).where(
                Notification.kind == "officer_digest")))

    clock.set(datetime(2026, 12, 1, 7, 0, tzinfo=VN_TZ))
    _import(svc, [dossier("D1", MaCanBo="CB01", NgayHenTra=ts(2026, 12, 2, 17, 0))])
    assert svc.scan().full and digests() == []  # before the digest time
    clock.set(datetime(2026, 12, 1, 8, 0, tzinfo=VN_TZ))
    assert not svc.scan().full
    first = digests()
    assert len(first) == 1 and first[0].startswith("officer_digest:20261201:")
    # CB02 gets a dossier after the day's digests went out: the next incremental scan leaves it,
    clock.set(datetime(2026, 12, 1, 8, 30, tzinfo=VN_TZ))
    _import(svc, [dossier("D2", MaCanBo="CB02", NgayHenTra=ts(2026, 12, 2, 17, 0))])
    assert not svc.scan().full
    assert digests() == first
    # and the next full scan adds it
    clock.set(datetime(2026, 12, 1, 9, 0, tzinfo=VN_TZ))
    assert svc.scan().full
    assert len(digests()) == 2
