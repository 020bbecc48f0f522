"""Two imports of the same dossiers at once (the portal re-sending while an operator imports a file): on
PostgreSQL both insert the same MaHoSo, one waits on the unique index and then fails. Such a row is not bad
data: it is stored (as an update), never rejected."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import func, select

from notifier.rules.clock import FixedClock
from notifier.rules.portal import ImportReport
from notifier.store.models import Agency, Dossier
from notifier.workflows.ingest import ImportWorkflow
from notifier.workflows.service import Service
from tests.conftest import T0, make_settings
from tests.factories import dossier

N = 300


def test_overlapping_concurrent_imports_reject_nothing(db_url: str, tmp_path: Path) -> None:
    services = [Service.build(make_settings(db_url, tmp_path), FixedClock(T0)) for _ in range(2)]
    reports: dict[int, ImportReport] = {}
    barrier = threading.Barrier(2)

    def run(i: int) -> None:
        # new agencies too, so their unique codes race as well
        items = [dossier(f"SAME-{n:04d}", ChuHoSo=f"Người {i}", MaDonVi=f"NEW-{n % 7}") for n in range(N)]
        if i == 1:
            items.reverse()  # the other order: PostgreSQL may end one batch as a deadlock
        barrier.wait()
        reports[i] = ImportWorkflow(services[i]).dossiers(items, f"api:{i}", batch_rows=50)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for i in range(2):
            assert reports[i].errors == [], reports[i].errors[:3]
            assert reports[i].created + reports[i].updated + reports[i].unchanged == N
        assert reports[0].created + reports[1].created == N
        with services[0].factory() as session:
            assert session.scalar(select(func.count()).select_from(Dossier)) == N
            assert session.scalar(select(func.count()).select_from(Agency).where(Agency.code.like("NEW-%"))) == 7
    finally:
        for s in services:
            s.engine.dispose()
