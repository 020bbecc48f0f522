"""store.planning: the plain rows the dispatcher plans from carry the same values as the ORM rows."""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from datetime import datetime

from sqlalchemy import select

from notifier.rules.clock import VN_TZ, FixedClock
from notifier.store.engine import is_postgres
from notifier.store.models import Notification
from notifier.store.planning import planning_rows
from notifier.workflows.ingest import upsert
from notifier.workflows.officer_import import upsert_officers
from notifier.workflows.service import Service
from tests.factories import dossier, officers, ts


def _same(plain: object, orm: object, path: str) -> int:
    """Compare every field of `plain` with the ORM object's attribute of that name; returns how many."""
    assert is_dataclass(plain), path
    checked = 0
    for f in fields(plain):
        mine, theirs = getattr(plain, f.name), getattr(orm, f.name)
        if is_dataclass(mine):
            checked += _same(mine, theirs, f"{path}.{f.name}")
        else:
            assert mine == theirs, f"{path}.{f.name}: {mine!r} != {theirs!r}"
            checked += 1
    return checked


def test_plain_rows_match_the_orm(service: Service, clock: FixedClock) -> None:
    with service.factory() as session, session.begin():
        upsert_officers(session, officers())
    clock.set(datetime(2026, 12, 4, 18, 0, tzinfo=VN_TZ))
    with service.factory() as session, session.begin():
        report = upsert(
            session,
            [
                dossier(MaCanBo="CB01", NgayHenTra=ts(2026, 12, 4, 17, 0)),
                dossier("000.00.30.H26-261120-0002", TrangThaiHoSo=2, SoDienThoai=None, Email=None),
            ],
            clock.now(),
            source="test",
        )
    assert not report.errors
    service.scan()
    with service.factory() as session:
        orm = list(session.scalars(select(Notification).order_by(Notification.id)))
        # an officer's alert (officer and dossier with its assigned officer) and citizens' notices
        assert any(n.officer is not None for n in orm) and any(n.officer is None for n in orm)
        assert any(n.dossier is not None and n.dossier.officer is not None for n in orm)
        ids = [n.id for n in reversed(orm)]
        plain = planning_rows(session, [*ids, 10**9], is_postgres(session))  # an unknown id: no row
        assert [p.id for p in plain] == sorted(ids)
        checked = sum(_same(p, n, f"notification {n.id}") for p, n in zip(plain, orm, strict=True))
        assert checked > 40 * len(orm)
        # rows shared by the batch are read once: one object each, as in the ORM's identity map
        agencies = {id(p.dossier.agency) for p in plain if p.dossier is not None}
        assert len(agencies) == 1
