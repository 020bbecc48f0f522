"""One definition of "on time" (notifier.store.dossier_facts), read by the 766 report and the dashboard."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from notifier.rules.clock import VN_TZ, FixedClock
from notifier.store.dossier_facts import dossier_facts
from notifier.store.models import Dossier
from notifier.web.admin.auth import Viewer
from notifier.web.admin.dashboard import figures
from notifier.workflows import reports
from notifier.workflows.ingest import upsert
from notifier.workflows.officer_actions import mark_resolved, set_new_date
from notifier.workflows.service import Service
from tests.factories import AGENCY_NAME, dossier, ts

ADMIN = Viewer(
    id=0, username="quantri", role="admin", agency_id=None, agency_code=None, agency_name=None,
    phone=None, telegram_chat_id=None, email=None,
)  # fmt: skip


def at(month: int, day: int, hour: int = 9) -> datetime:
    return datetime(2026, month, day, hour, 0, tzinfo=VN_TZ)


RECEIVED, DUE = ts(2026, 11, 20, 8, 0), ts(2026, 11, 27, 17, 0)


def _at_time(
    service: Service, clock: FixedClock, when: datetime, action: Callable[[Session], object]
) -> None:
    clock.set(when)
    with service.factory() as session, session.begin():
        action(session)


def _import(service: Service, clock: FixedClock, when: datetime, *items: dict[str, Any]) -> None:
    def run(session: Session) -> None:
        assert not upsert(session, list(items), clock.now(), "test").errors

    _at_time(service, clock, when, run)


def _resolve(service: Service, clock: FixedClock, when: datetime, code: str) -> None:
    _at_time(service, clock, when, lambda s: mark_resolved(s, code, clock.now(), actor="test", source="test"))


def _apology_then_resolved_before_the_new_date(service: Service, clock: FixedClock) -> None:
    """D1: due 27/11, missed; an apology moves it to 04/12; resolved 01/12, before the new date."""
    _import(service, clock, at(11, 20), dossier("D1", NgayTiepNhan=RECEIVED, NgayHenTra=DUE))
    _at_time(service, clock, at(11, 30), lambda s: set_new_date(
        s, "D1", "04/12/2026", "Chờ ý kiến cơ quan phối hợp", clock.now(), actor="test", source="test",
        calendar=service.calendar, number_format=service.settings.apology.number_format, default_time=time(17),
    ))  # fmt: skip
    _resolve(service, clock, at(12, 1), "D1")


def test_a_dossier_gets_the_same_verdict_on_the_dashboard_and_in_the_report(
    service: Service, clock: FixedClock
) -> None:
    _apology_then_resolved_before_the_new_date(service, clock)
    now = at(12, 2, 10)
    clock.set(now)
    with service.factory() as session:
        report = reports.build_report(session, reports.month_period("2026-12"), now)
        dashboard = figures(session, ADMIN, now)
    assert (report.total.resolved, report.total.on_time, report.total.late) == (1, 0, 1)
    # The report counts it late (the appointment before the apology); so must the dashboard.
    assert dashboard.on_time == [(AGENCY_NAME, 0, 1)]


def test_per_dossier_resolution_time_deadline_and_verdict(service: Service, clock: FixedClock) -> None:
    _apology_then_resolved_before_the_new_date(service, clock)
    _import(
        service, clock, at(11, 26),
        dossier("D2", NgayTiepNhan=RECEIVED, NgayHenTra=None, TrangThaiHoSo=9),  # no appointment at all
        dossier("D3", NgayTiepNhan=RECEIVED, NgayHenTra=DUE, TrangThaiHoSo=9),  # resolved before it
        dossier("D4", NgayTiepNhan=RECEIVED, NgayHenTra=DUE),  # still open
        dossier("D5", NgayTiepNhan=RECEIVED, NgayHenTra=DUE),
    )  # fmt: skip
    # D3 is returned after its appointment: it is judged by its first resolution.
    _import(service, clock, at(12, 1, 10),
            dossier("D3", NgayTiepNhan=RECEIVED, NgayHenTra=DUE, TrangThaiHoSo=10, NgayTra=ts(2026, 12, 1, 9, 0)))  # fmt: skip
    # D5's appointment moves with a supplement request: the citizen's clock reset, which does count.
    supplement = [{"NoiDungBoSung": "Giấy chứng nhận sức khỏe", "NgayHenTraMoi": ts(2026, 12, 4, 17, 0)}]
    _import(service, clock, at(11, 30),
            dossier("D5", NgayTiepNhan=RECEIVED, NgayHenTra=ts(2026, 12, 4, 17, 0), DanhSachHoSoBoSung=supplement))  # fmt: skip
    _resolve(service, clock, at(12, 2), "D5")

    with service.factory() as session:
        ids = dict(session.execute(select(Dossier.code, Dossier.id)).all())
        rows = session.execute(dossier_facts(at(12, 3)).add_columns(Dossier.code)).all()
        early = session.execute(dossier_facts(at(11, 26)).add_columns(Dossier.code)).all()
    got = {r.code: (r.dossier_id, r.resolved_at, r.deadline, bool(r.on_time)) for r in rows}
    assert got == {
        "D1": (ids["D1"], at(12, 1), at(11, 27, 17), False),
        "D2": (ids["D2"], at(11, 26), None, True),
        "D3": (ids["D3"], at(11, 26), at(11, 27, 17), True),
        "D4": (ids["D4"], None, at(11, 27, 17), False),
        "D5": (ids["D5"], at(12, 2), at(12, 4, 17), True),
    }
    # Status events from `until` on are not known yet: a dossier in 10 falls back on NgayTra.
    assert {r.code: r.resolved_at for r in early} == {
        "D1": None,
        "D2": None,
        "D3": at(12, 1),
        "D4": None,
        "D5": None,
    }


def test_the_dashboard_counts_what_was_resolved_in_its_30_days(service: Service, clock: FixedClock) -> None:
    _apology_then_resolved_before_the_new_date(service, clock)
    with service.factory() as session:
        assert figures(session, ADMIN, at(12, 1) - timedelta(seconds=2)).on_time == []
        assert figures(session, ADMIN, at(12, 1)).on_time == [(AGENCY_NAME, 0, 1)]
        assert figures(session, ADMIN, at(12, 31, 9)).on_time == [(AGENCY_NAME, 0, 1)]
        assert figures(session, ADMIN, at(12, 31, 9) + timedelta(seconds=1)).on_time == []
