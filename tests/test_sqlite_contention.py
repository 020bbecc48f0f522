"""The embedded default (SQLite) under contention: concurrent imports, each from its own engine as a second
process would have, all land; nothing is refused as `database is locked` (issue 11)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select

from notifier.rules.portal import ImportReport
from notifier.store.models import Dossier
from notifier.workflows.ingest import ImportWorkflow
from notifier.workflows.service import Service
from tests.conftest import T0, make_settings
from tests.factories import dossier

N = 1500  # per import; the 20k is in benchmarks.import_stream's sizes, the contention is the same


def _items(prefix: str, n: int = N) -> list[dict[str, object]]:
    return [dossier(f"{prefix}-{i:06d}") for i in range(n)]


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    import shutil

    path = tmp_path / "notifier.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


def test_concurrent_imports_and_a_writer_beside_them_all_land(sqlite_url: str, tmp_path: Path) -> None:
    from notifier.rules.clock import FixedClock

    services = [Service.build(make_settings(sqlite_url, tmp_path), FixedClock(T0)) for _ in range(3)]
    reports: dict[str, ImportReport] = {}
    failures: list[BaseException] = []

    def run(name: str, service: Service) -> None:
        try:
            reports[name] = ImportWorkflow(service).dossiers(_items(name), f"api:{name}")
        except BaseException as exc:
            failures.append(exc)

    def scan_loop(service: Service, stop: threading.Event) -> None:
        # the dispatcher's and the scans' writes of `notifier run`, meanwhile. One scan after another, with
        # a 10 ms breath: back to back, the loop took the lock back at once and starved the importers, whose
        # busy handler sleeps between polls (9-20 s, a third of the way to the 60 s busy timeout); with it,
        # the scanner still holds the write lock about 90% of the imports' time (25 scans in 2.2 s here).
        while not stop.is_set():
            try:
                service.scan()
            except BaseException as exc:
                failures.append(exc)
                return
            stop.wait(0.01)

    stop = threading.Event()
    scanner = threading.Thread(target=scan_loop, args=(services[2], stop))
    threads = [threading.Thread(target=run, args=(n, s)) for n, s in (("A", services[0]), ("B", services[1]))]
    scanner.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    scanner.join()
    try:
        assert failures == []
        for name in ("A", "B"):
            assert reports[name].errors == [], reports[name].errors[:3]
            assert reports[name].created == N
        with services[0].factory() as session:
            assert session.scalar(select(func.count()).select_from(Dossier)) == 2 * N
    finally:
        for s in services:
            s.engine.dispose()


def test_a_cli_import_beside_an_api_import_lands(sqlite_url: str, tmp_path: Path) -> None:
    from notifier.rules.clock import FixedClock

    (tmp_path / "config.toml").write_text(f'[database]\nurl = "{sqlite_url}"\n', encoding="utf-8")
    (tmp_path / "cli.json").write_text(json.dumps({"data": _items("CLI")}), encoding="utf-8")
    service = Service.build(make_settings(sqlite_url, tmp_path), FixedClock(T0))
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOTIFIER_")}
    try:
        cli = subprocess.Popen(
            [sys.executable, "-m", "jobs", "import", "cli.json", "--now", "2026-12-01T09:00"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        report = ImportWorkflow(service).dossiers(_items("API"), "api:portal")
        out, err = cli.communicate(timeout=120)
        assert report.errors == [] and report.created == N
        assert cli.returncode == 0, err[-2000:]
        assert f"{N} created" in out
        with service.factory() as session:
            assert session.scalar(select(func.count()).select_from(Dossier)) == 2 * N
    finally:
        service.engine.dispose()
