"""A database outage as the API and the jobs see it: 503 with a clear body (not 500), /readyz without the
database's address, and the jobs logging one line when it starts and one when it ends."""

from __future__ import annotations

import logging
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from jobs import tasks
from notifier.rules.clock import FixedClock
from notifier.web.api import create_app
from notifier.workflows.service import Service
from tests.conftest import T0, make_settings
from tests.factories import dossier
from tests.fakes.helpers import free_port

DEAD = "postgresql://postgres@127.0.0.1:1/notifier"  # nothing listens on port 1


def test_the_api_answers_503_with_a_clear_body_while_the_database_is_down(tmp_path: Path) -> None:
    service = Service.build(make_settings(DEAD, tmp_path), FixedClock(T0))
    client = TestClient(create_app(service), raise_server_exceptions=False)
    auth = {"Authorization": "Bearer nk_12345678_abcdefabcdefabcdef"}
    for resp in (
        client.post("/api/v1/dossiers", json={"data": [dossier()]}, headers=auth),
        client.get("/api/v1/dossiers/HS-1", headers=auth),
    ):
        assert resp.status_code == 503, resp.text
        assert resp.json() == {"detail": "database unavailable; try again shortly"}
        assert resp.headers["Retry-After"] == "5"
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json() == {"status": "unavailable", "database": "unreachable"}
    assert "127.0.0.1" not in ready.text and "5432" not in ready.text and ":1" not in ready.text
    assert client.get("/healthz").status_code == 200


@pytest.fixture
def own_pg(pg_own_database: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    service = Service.build(make_settings(pg_own_database, tmp_path), FixedClock(T0))
    try:
        yield service, pg_own_database.rsplit("/", 1)[1]
    finally:
        service.engine.dispose()


def _connections(admin: str, database: str, allow: bool) -> None:
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS {str(allow).lower()}')
        if not allow:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (database,)
            )


async def test_jobs_log_an_outage_once_and_its_end_once(
    own_pg: tuple[Service, str], pg_admin_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    service, name = own_pg
    assert (await tasks.dispatch(service)) is not None
    _connections(pg_admin_url, name, allow=False)
    try:
        with caplog.at_level(logging.INFO, logger="notifier.outage"):
            for job in (tasks.dispatch, tasks.reclaim, tasks.scan, tasks.dispatch):
                assert await job(service) is None  # the job failed, the caller (the scheduler) lives on
    finally:
        _connections(pg_admin_url, name, allow=True)
    with caplog.at_level(logging.INFO, logger="notifier.outage"):
        assert await tasks.reclaim(service) == 0
        assert await tasks.dispatch(service) is not None
    messages = [r.getMessage() for r in caplog.records if r.name == "notifier.outage"]
    assert len(messages) == 2, messages
    assert "database unavailable" in messages[0]
    assert "database available again" in messages[1]


async def test_start_up_waits_for_the_database(own_pg: tuple[Service, str], pg_admin_url: str) -> None:
    import asyncio

    service, name = own_pg
    _connections(pg_admin_url, name, allow=False)
    waiting = asyncio.ensure_future(tasks.outage_of(service).wait_for(service.migrate, first_pause=0.1))
    await asyncio.sleep(1)
    assert not waiting.done()
    _connections(pg_admin_url, name, allow=True)
    await asyncio.wait_for(waiting, timeout=30)


def test_notifier_run_serves_http_while_the_database_is_down_and_starts_when_it_is_back(
    own_pg: tuple[Service, str], pg_admin_url: str, tmp_path: Path
) -> None:
    import os
    import subprocess
    import sys
    import time

    import httpx

    from benchmarks.harness import stop, wait_until

    _service, name = own_pg
    url = pg_admin_url.rsplit("/", 1)[0] + "/" + name
    port = free_port()
    (tmp_path / "config.toml").write_text(
        f'[database]\nurl = "{url}"\n[channels.file]\npath = "out.jsonl"\n', encoding="utf-8"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOTIFIER_")}
    log = tmp_path / "run.log"
    _connections(pg_admin_url, name, allow=False)
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "jobs", "run", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"

    def answers(path: str, status: int) -> bool:
        try:
            return httpx.get(base + path, timeout=2).status_code == status
        except httpx.HTTPError:
            return False

    try:
        try:
            assert wait_until(lambda: answers("/healthz", 200), timeout=60), log.read_text()
            assert answers("/readyz", 503)
            time.sleep(1)
            assert proc.poll() is None
        finally:
            _connections(pg_admin_url, name, allow=True)
        assert wait_until(lambda: answers("/readyz", 200), timeout=60), log.read_text()
        assert wait_until(lambda: "database available again" in log.read_text(), timeout=60), log.read_text()
        assert proc.poll() is None
    finally:
        stop(proc)
    text = log.read_text()
    assert text.count("database unavailable") == 1, text


def test_a_worker_started_while_the_database_is_down_waits_and_then_sends(
    own_pg: tuple[Service, str], pg_admin_url: str, tmp_path: Path
) -> None:
    import time

    from benchmarks.harness import (
        counts,
        gateway_stats,
        seed_notifications,
        spawn_worker,
        start_gateway,
        stop,
        wait_until,
        write_config,
    )

    _service, name = own_pg
    url = pg_admin_url.rsplit("/", 1)[0] + "/" + name
    seed_notifications(url, 50)
    gateway, port = start_gateway()
    config = write_config(tmp_path / "config.toml", url, port, batch=20, concurrency=5, lease_seconds=4)
    log = tmp_path / "worker.log"
    _connections(pg_admin_url, name, allow=False)
    worker = spawn_worker(config, log)
    try:
        try:
            # started (its first run refused), then several dispatch ticks (0.2 s) and the next reclaim tick
            # (2 s), each refused: what a fixed 5 s from the spawn gave, less the start-up it waited out
            assert wait_until(lambda: "database unavailable" in log.read_text(), timeout=60), log.read_text()
            time.sleep(2.5)
            assert worker.poll() is None, log.read_text()
            assert gateway_stats(port)["accepted"] == 0
        finally:
            _connections(pg_admin_url, name, allow=True)
        assert wait_until(lambda: counts(url).get("sent", 0) == 50, timeout=60), log.read_text()
        # The run that sent the last rows says so when it ends, which may be just after they are recorded.
        assert wait_until(lambda: "database available again" in log.read_text(), timeout=60), log.read_text()
        assert worker.poll() is None
    finally:
        stop(worker)
        stop(gateway, hard=True)
    text = log.read_text()
    assert text.count("database unavailable") == 1 and text.count("database available again") == 1, text


@pytest.mark.empty_database
@pytest.mark.parametrize(
    ("command", "db_url", "routing"),
    [
        ("worker", "postgresql", "; routing citizen: file, email; officer: file; head: file; 1 rule"),
        ("scheduler", "sqlite", ""),
    ],
    indirect=["db_url"],
)
def test_a_long_running_command_on_a_database_without_its_schema_says_so_and_waits_for_it(
    command: str, db_url: str, routing: str, tmp_path: Path
) -> None:
    """The database answers, it is just not migrated: not "database unavailable (no such table: ...)" (and
    on PostgreSQL not a traceback at every tick), but what to do, while waiting for whoever migrates it.
    Before that, as `run` says where it serves, the command says what runs on which database (without the
    password: the terminal and the journal keep it) and, for a dispatcher, by which routes."""
    import sqlite3

    from benchmarks.harness import spawn_worker, stop, wait_until
    from tests.cli_process import run_notifier

    if db_url.startswith("sqlite:///"):
        sqlite3.connect(db_url.removeprefix("sqlite:///")).close()  # it exists, it is empty
        url = shown = db_url
    else:
        url = db_url.replace("postgresql://postgres@", "postgresql://postgres:s3cr3t-pw@")
        assert "s3cr3t-pw" in url  # the server trusts the test user: the password is there only to be hidden
        shown = url.replace("s3cr3t-pw", "***")
    config = tmp_path / "config.toml"
    config.write_text(
        f'[database]\nurl = "{url}"\n[channels.file]\npath = "{tmp_path / "out.jsonl"}"\n'
        '[channels.email]\nplugin = "email"\nhost = "127.0.0.1"\nport = 1\nfrom_address = "a@b.vn"\n'
        '[routing]\ncitizen = ["file", "email"]\n'
        '[[routing.rules]]\nkind = "received"\nchannels = ["file"]\n',
        encoding="utf-8",
    )
    log = tmp_path / f"{command}.log"
    proc = spawn_worker(config, log, command=(command,))
    try:
        assert wait_until(lambda: "no schema yet" in log.read_text(), timeout=60), log.read_text()
        assert proc.poll() is None, log.read_text()
        upgraded = run_notifier(tmp_path, "--config", str(config), "db", "upgrade")
        assert upgraded.returncode == 0, upgraded.stderr
        assert wait_until(lambda: "schema up to date after" in log.read_text(), timeout=60), log.read_text()
        assert proc.poll() is None, log.read_text()
    finally:
        stop(proc)
    text = log.read_text()
    assert f"notifier {command} started on database {shown}{routing}\n" in text, text
    assert "s3cr3t-pw" not in text
    assert "run `notifier db upgrade`" in text, text
    assert "unavailable" not in text and "no such table" not in text and "Traceback" not in text, text
    assert proc.returncode == 0, text
