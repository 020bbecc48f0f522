"""Scans: every kind queued exactly once, working-day thresholds, recipients, races."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy import select

from notifier.rules.clock import VN_TZ
from notifier.store.models import Dossier, Notification, Officer
from notifier.workflows.ingest import upsert
from notifier.workflows.officer_import import upsert_officers
from notifier.workflows.service import Service
from tests.factories import dossier, officers, ts


def _import(service: Service, items: list[dict]) -> None:
    with service.factory() as session, session.begin():
        report = upsert(session, items, service.clock.now(), source="test")
    assert not report.errors, report.errors


def _officers(service: Service) -> None:
    with service.factory() as session, session.begin():
        upsert_officers(session, officers())


def _kinds(service: Service) -> Counter[str]:
    with service.factory() as session:
        return Counter(session.scalars(select(Notification.kind)))


def _rows(service: Service, kind: str) -> list[Notification]:
    with service.factory() as session:
        return list(
            session.scalars(select(Notification).where(Notification.kind == kind).order_by(Notification.id))
        )


CITIZEN_STATUS_KINDS = {
    2: "received",
    3: "rejected",
    5: "supplement_requested",
    6: "payment_requested",
    7: "withdrawn",
    8: "stopped",
    9: "result_ready",
    10: "returned",
}


def test_each_status_kind_queued_once_across_rescans_and_reimports(service: Service) -> None:
    # 01/12/2026 09:00; appointments far enough ahead that no deadline kind fires
    items = [
        dossier(
            f"D-{s}",
            TrangThaiHoSo=s,
            NgayHenTra=ts(2026, 12, 20, 17, 0),
            NgayTiepNhan=ts(2026, 11, 30, 8, 0),
            NgayTra=ts(2026, 12, 1, 8, 0) if s == 10 else None,
        )
        for s in (1, 4, *CITIZEN_STATUS_KINDS)
    ]
    _import(service, items)
    service.scan()
    service.scan()
    _import(service, items)
    service.scan()
    assert _kinds(service) == Counter(CITIZEN_STATUS_KINDS.values())


def test_a_second_supplement_request_is_a_new_notice(service: Service, clock) -> None:
    _import(service, [dossier(TrangThaiHoSo=5)])
    service.scan()
    clock.advance(timedelta(hours=1))
    _import(service, [dossier(TrangThaiHoSo=4)])
    service.scan()
    clock.advance(timedelta(hours=1))
    _import(service, [dossier(TrangThaiHoSo=5)])
    service.scan()
    service.scan()
    assert _kinds(service)["supplement_requested"] == 2


def test_old_status_changes_from_an_archive_are_not_announced(service: Service) -> None:
    _import(
        service,
        [
            dossier(
                TrangThaiHoSo=10,
                NgayTra=ts(2026, 6, 1, 9, 0),
                NgayTiepNhan=ts(2026, 5, 20, 9, 0),
                NgayHenTra=ts(2026, 6, 1, 17, 0),
            )
        ],
    )
    service.scan()
    assert _kinds(service) == Counter()


def test_status_that_moved_on_before_the_scan_is_not_announced(service: Service) -> None:
    _import(service, [dossier(TrangThaiHoSo=5)])
    _import(service, [dossier(TrangThaiHoSo=4)])
    service.scan()
    assert _kinds(service)["supplement_requested"] == 0


def test_overdue_notice_once_per_missed_appointment_and_mau_04_once_per_document(service: Service, clock) -> None:
    # due Monday 30/11 17:00; now Tuesday 01/12 09:00
    _import(service, [dossier(NgayHenTra=ts(2026, 11, 30, 17, 0))])
    service.scan()
    service.scan()
    # No Mẫu 04 moved the date: the honest notice, not the apology.
    rows = _rows(service, "overdue_notice")
    assert len(rows) == 1 and _rows(service, "overdue_apology") == []
    assert rows[0].ref_at == datetime(2026, 11, 30, 17, 0, tzinfo=VN_TZ)
    # the agency sets a new date (Mẫu 04 through the portal): its message goes out once
    clock.advance(timedelta(hours=1))
    _import(service, [dossier(NgayHenTra=ts(2026, 12, 3, 17, 0), LyDoTreHan="Chờ ý kiến cơ quan phối hợp")])
    service.scan()
    service.scan()
    assert [r.ref_at.day for r in _rows(service, "overdue_apology")] == [30]
    # that one is missed too, with no further Mẫu 04: a second notice
    clock.set(datetime(2026, 12, 4, 9, 0, tzinfo=VN_TZ))
    service.scan()
    service.scan()
    assert [r.ref_at.day for r in _rows(service, "overdue_notice")] == [30, 3]
    assert [r.ref_at.day for r in _rows(service, "overdue_apology")] == [30]


def test_moved_before_scan_still_owes_an_apology(service: Service, clock) -> None:
    clock.set(datetime(2026, 11, 27, 9, 0, tzinfo=VN_TZ))
    _import(service, [dossier(NgayHenTra=ts(2026, 11, 30, 17, 0))])
    clock.set(datetime(2026, 12, 1, 9, 0, tzinfo=VN_TZ))
    # the new date arrives before any scan saw the old one pass
    _import(service, [dossier(NgayHenTra=ts(2026, 12, 8, 17, 0))])
    service.scan()
    rows = _rows(service, "overdue_apology")
    assert len(rows) == 1 and rows[0].ref_at.day == 30
    with service.factory() as session:
        d = session.scalar(select(Dossier))
        assert d is not None and d.apology_new_due_at is not None and d.apology_new_due_at.day == 8


def test_supplement_reset_of_the_clock_is_not_an_apology(service: Service, clock) -> None:
    clock.set(datetime(2026, 11, 27, 9, 0, tzinfo=VN_TZ))
    _import(service, [dossier(NgayHenTra=ts(2026, 11, 30, 17, 0))])
    clock.set(datetime(2026, 12, 1, 9, 0, tzinfo=VN_TZ))
    new_due = ts(2026, 12, 10, 17, 0)
    _import(
        service,
        [
            dossier(
                NgayHenTra=new_due,
                DanhSachHoSoBoSung=[
                    {"NoiDungBoSung": "Bổ sung bản sao giấy khai sinh", "NgayHenTraMoi": new_due}
                ],
            )
        ],
    )
    service.scan()
    assert _kinds(service)["overdue_apology"] == 0


def test_new_appointment_follows_a_mau_04_whose_date_is_corrected_after_it_went_out(service: Service, clock) -> None:
    from notifier.workflows.officer_actions import Actor, ApologyWorkflow

    _import(service, [dossier(NgayHenTra=ts(2026, 11, 30, 17, 0))])
    _import(service, [dossier(NgayHenTra=ts(2026, 12, 8, 17, 0))])  # Mẫu 04 through the portal
    service.scan()
    with service.factory() as session, session.begin():
        apology = session.scalar(select(Notification).where(Notification.kind == "overdue_apology"))
        assert apology is not None
        apology.status, apology.sent_at = "sent", clock.now()
    clock.advance(timedelta(hours=2))
    done = ApologyWorkflow(service).set_new_date(
        dossier()["MaHoSo"], "10/12/2026", "Chờ ký duyệt", Actor("cli")
    )
    assert done.corrected and done.compliant
    service.scan()
    service.scan()
    assert _kinds(service)["new_appointment"] == 1


def test_new_appointment_not_needed_when_apology_still_queued(service: Service, clock) -> None:
    _import(service, [dossier(NgayHenTra=ts(2026, 11, 30, 17, 0))])
    service.scan()
    clock.advance(timedelta(hours=2))
    _import(service, [dossier(NgayHenTra=ts(2026, 12, 8, 17, 0))])
    service.scan()
    assert _kinds(service)["new_appointment"] == 0


def test_due_soon_counts_working_days_over_a_weekend(service: Service, clock) -> None:
    _officers(service)
    # Thursday 03/12/2026 09:00: two working days ahead is Monday 07/12 (Fri 04, Mon 07)
    clock.set(datetime(2026, 12, 3, 9, 0, tzinfo=VN_TZ))
    _import(
        service,
        [
            dossier("MON", MaCanBo="CB01", NgayHenTra=ts(2026, 12, 7, 17, 0)),
            dossier("TUE", MaCanBo="CB01", NgayHenTra=ts(2026, 12, 8, 8, 0)),
        ],
    )
    service.scan()
    with service.factory() as session:
        codes = session.scalars(
            select(Dossier.code)
            .join(Notification, Notification.dossier_id == Dossier.id)
            .where(Notification.kind == "due_soon")
        ).all()
    assert list(codes) == ["MON"]


def test_due_soon_counts_working_days_over_tet(service: Service, clock) -> None:
    _officers(service)
    # Friday 05/02/2027 is Tết's eve holiday; Tết runs to 10/02. From Wed 03/02 09:00, two working
    # days ahead are Thu 04/02... and 04/02 is a holiday too, so the next working days are 11/02, 12/02.
    clock.set(datetime(2027, 2, 3, 9, 0, tzinfo=VN_TZ))
    _import(
        service,
        [
            dossier(
                "TET-IN",
                MaCanBo="CB01",
                NgayTiepNhan=ts(2027, 1, 20, 8, 0),
                NgayHenTra=ts(2027, 2, 12, 17, 0),
            ),
            dossier(
                "TET-OUT",
                MaCanBo="CB01",
                NgayTiepNhan=ts(2027, 1, 20, 8, 0),
                NgayHenTra=ts(2027, 2, 15, 8, 0),
            ),
        ],
    )
    service.scan()
    with service.factory() as session:
        codes = session.scalars(
            select(Dossier.code)
            .join(Notification, Notification.dossier_id == Dossier.id)
            .where(Notification.kind == "due_soon")
        ).all()
    assert list(codes) == ["TET-IN"]


def test_apology_due_supersedes_due_soon_for_a_dossier_already_in_its_window(service: Service, clock) -> None:
    _officers(service)
    # Thursday 03/12/2026 09:00: FRI has one working day left, inside both windows ([reminders] 2 and
    # [apology] 1 working days); MON has two. The officer got due_soon and apology_due for FRI at once.
    clock.set(datetime(2026, 12, 3, 9, 0, tzinfo=VN_TZ))
    _import(
        service,
        [
            dossier("FRI", MaCanBo="CB01", NgayHenTra=ts(2026, 12, 4, 17, 0)),
            dossier("MON", MaCanBo="CB01", NgayHenTra=ts(2026, 12, 7, 17, 0)),
        ],
    )

    def alerts() -> list[tuple[str, str, str]]:
        with service.factory() as session:
            rows = session.execute(
                select(Notification.kind, Dossier.code, Officer.code)
                .join(Dossier, Notification.dossier_id == Dossier.id)
                .join(Officer, Notification.officer_id == Officer.id)
                .where(Notification.kind.in_(["due_soon", "apology_due"]))
            ).all()
        return sorted((kind, code, officer) for kind, code, officer in rows)

    service.scan()
    assert alerts() == [("apology_due", "FRI", "CB01"), ("due_soon", "MON", "CB01")]
    # Friday: MON enters the apology window, a day after its due_soon; a rescan adds nothing for FRI.
    clock.set(datetime(2026, 12, 4, 9, 0, tzinfo=VN_TZ))
    service.scan()
    assert alerts() == [
        ("apology_due", "FRI", "CB01"),
        ("apology_due", "MON", "CB01"),
        ("due_soon", "MON", "CB01"),
    ]


def test_officer_alert_recipients_and_escalation_threshold(service: Service, clock) -> None:
    _officers(service)
    _import(
        service,
        [
            dossier("ASSIGNED", MaCanBo="CB02", NgayHenTra=ts(2026, 11, 30, 17, 0)),  # 1 working day over
            dossier("UNASSIGNED", NgayHenTra=ts(2026, 11, 27, 17, 0)),  # Fri: Mon + Tue = 2 working days over
        ],
    )
    service.scan()
    with service.factory() as session:
        pairs = sorted(
            session.execute(
                select(Notification.kind, Dossier.code, Officer.code)
                .join(Dossier, Notification.dossier_id == Dossier.id)
                .join(Officer, Notification.officer_id == Officer.id)
                .where(Notification.audience != "citizen")
            ).all()
        )
    assert [tuple(p) for p in pairs] == [
        ("escalation", "UNASSIGNED", "LD01"),
        ("overdue_alert", "ASSIGNED", "CB02"),
        ("overdue_alert", "UNASSIGNED", "CB01"),
        ("overdue_alert", "UNASSIGNED", "CB02"),
    ]


def test_payment_reminder_after_working_days_unpaid(service: Service, clock) -> None:
    clock.set(datetime(2026, 12, 3, 9, 0, tzinfo=VN_TZ))  # Thursday
    _import(
        service,
        [
            dossier(
                "UNPAID", TrangThaiHoSo=6, DaThanhToan=0, DuongDanThanhToan="https://dichvucong.gov.vn/p/1"
            ),
            dossier("PAID", TrangThaiHoSo=6, DaThanhToan=1),
        ],
    )
    service.scan()
    clock.set(datetime(2026, 12, 4, 9, 0, tzinfo=VN_TZ))  # 1 working day later
    service.scan()
    assert _kinds(service)["payment_reminder"] == 0
    clock.set(datetime(2026, 12, 7, 9, 0, tzinfo=VN_TZ))  # Monday: 2 working days later
    service.scan()
    service.scan()
    rows = _rows(service, "payment_reminder")
    assert len(rows) == 1
    with service.factory() as session:
        assert session.get(Dossier, rows[0].dossier_id).code == "UNPAID"  # type: ignore[union-attr]


def test_concurrent_scans_never_duplicate(service: Service, clock) -> None:
    _officers(service)
    _import(
        service,
        [
            dossier(
                f"R-{i}",
                MaCanBo="CB01",
                NgayTiepNhan=ts(2026, 11, 30, 8, 0),
                NgayHenTra=ts(2026, 11, 30, 17, 0),
                TrangThaiHoSo=4 if i % 2 else 2,
            )
            for i in range(40)
        ],
    )
    errors: list[BaseException] = []

    def run() -> None:
        try:
            service.scan()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # SQLite serialises writers and may report "database is locked" to a loser; none may duplicate
    assert all("locked" in str(e) for e in errors), errors
    service.scan()
    with service.factory() as session:
        keys = list(session.scalars(select(Notification.dedupe_key)))
    assert len(keys) == len(set(keys))
    kinds = _kinds(service)
    assert kinds["overdue_notice"] == 40 and kinds["overdue_alert"] == 40 and kinds["received"] == 20
