"""Shared fixtures: a fresh database per test on SQLite and on PostgreSQL, a fixed clock, a service.

Migrating and seeding a database costs more than most tests, so it happens once per session and backend:
a SQLite file built by `Service.migrate()` is copied for each test, and one PostgreSQL database built the
same way is put back to its just-migrated content before each test. Either way every test starts from a
fully migrated and seeded database of its own and sees nothing another test wrote; `migrate()` on it is
cheap. A test marked `empty_database` gets a database with no schema at all, as before.
"""

from __future__ import annotations

import gc
import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.dependencies import models as fastapi_models

from notifier.config import load_settings
from notifier.rules.clock import VN_TZ, FixedClock
from notifier.workflows.service import Service
from tests.pg_content import PristinePg

PG_ADMIN = os.environ.get("NOTIFIER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    try:
        with psycopg.connect(PG_ADMIN, connect_timeout=5):
            pass
    except psycopg.OperationalError as exc:  # never skip quietly: the storage layer must run on both
        pytest.fail(f"PostgreSQL at {PG_ADMIN} is not reachable ({exc}); scripts/test starts it")
    return PG_ADMIN


def _pg_database(admin_url: str, prefix: str = "notifier_test_", template: str | None = None) -> Iterator[str]:
    """A fresh database, empty or a copy of `template`, dropped afterwards, so runs never see each other's
    data."""
    name = f"{prefix}{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        # A commit returns before its WAL reaches the disk. What other connections see, and when, is
        # unchanged; only a crash of the PostgreSQL server itself could lose the last commits, and no test
        # crashes it (the outage tests stop our processes or refuse connections). The database's own
        # setting, so every connection to it has it: the test's, the service's, a subprocess's.
        conn.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    base = admin_url.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "empty_database: db_url names a database without any schema")


# Files holding a test that runs ten seconds or more (real processes killed and restarted, servers, a
# fuzzer, a browser). They run first, so that the test processes share them out at the start, rather than
# one process running the last of them alone while the others have finished (`scripts/test --durations=0`
# shows the long ones). Only the order changes: every test still runs, on its own database.
LONG_FIRST = frozenset(
    {
        "test_fault_injection.py",
        "test_sqlite_contention.py",
        "test_incremental_scans.py",
        "test_preview_health.py",
        "test_api_fuzz.py",
        "test_bot_runner.py",
        "test_crash.py",
        "test_graceful_stop.py",
        "test_plugin_out_of_tree.py",
        "test_admin_browser.py",
        "test_admin_accounts_browser.py",
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.path.name not in LONG_FIRST)  # stable: the rest keep their order


def pytest_collection_finish(session: pytest.Session) -> None:
    """Take what the test process has imported by now out of the garbage collector's full collections.

    Every test module is imported at this point, and with them notifier and its libraries: about half a
    million objects that live as long as the process, which CPython's full collection walked each time it
    ran, dozens of times a run. Frozen, they are left alone; what the tests make afterwards is collected as
    before. (With the FastAPI caches below, full collections had cost the three test processes 103 s of one
    run, in pauses averaging 0.9-1.5 s a process; see `gc.callbacks`.)"""
    gc.collect()
    gc.freeze()


# FastAPI remembers, per endpoint function, whether it is a coroutine or a generator, in caches of 4,096
# functions each. An app's endpoints are closures over its Service, so those caches kept the last 30 to 40
# tests' apps alive (counted), each with its engine and its cache of compiled statements, and every full
# collection walked them. Forgetting after each test only makes FastAPI work the answer out again. (One
# app per process in production: nothing there to forget.) Looked up by name: a FastAPI without them
# leaves nothing to do.
_FASTAPI_CALL_CACHES = [
    cache
    for name in ("_is_gen_callable_cached", "_is_async_gen_callable_cached", "_is_coroutine_callable_cached")
    if callable(cache := getattr(getattr(fastapi_models, name, None), "cache_clear", None))
]


@pytest.fixture(autouse=True)
def forget_finished_apps() -> Iterator[None]:
    yield
    for cache_clear in _FASTAPI_CALL_CACHES:
        cache_clear()


# Tuesday 01/12/2026, 09:00 Vietnam time: a working day, in working hours, outside quiet hours.
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=VN_TZ)


def _migrate_and_seed(url: str, tmp: Path) -> None:
    """What every test's database starts as: the migrations present now, the shipped templates (at T0)."""
    service = Service.build(make_settings(url, tmp), FixedClock(T0))
    try:
        service.migrate()
    finally:
        service.engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated and seeded once per session, copied by each test."""
    tmp = tmp_path_factory.mktemp("sqlite-template")
    path = tmp / "template.db"
    _migrate_and_seed(f"sqlite:///{path}", tmp)
    # the last connection closed checkpointed the WAL: the one file holds the whole database
    assert not path.with_name(path.name + "-wal").exists()
    return path


@pytest.fixture(scope="session")
def pg_template(pg_admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The name of a database migrated and seeded once per run that nothing stays connected to, so that
    CREATE DATABASE ... TEMPLATE can copy it: `pg_pristine`'s database and each `pg_own_database` start as
    such a copy (about 0.25 s here, where migrating a new database took 1.2 s, 2.8 s on a loaded machine)."""
    databases = _pg_database(pg_admin_url, prefix="notifier_tpl_")
    url = next(databases)
    try:
        _migrate_and_seed(url, tmp_path_factory.mktemp("pg-template"))
        yield url.rsplit("/", 1)[1]
    finally:
        databases.close()


@pytest.fixture
def pg_own_database(pg_admin_url: str, pg_template: str) -> Iterator[str]:
    """A migrated and seeded PostgreSQL database of this test's own, dropped afterwards: for the tests that
    take it down or kill processes using it, which must not do that to `pg_pristine`'s."""
    yield from _pg_database(pg_admin_url, template=pg_template)


@pytest.fixture(scope="session")
def pg_pristine(pg_admin_url: str, pg_template: str) -> Iterator[PristinePg]:
    """One PostgreSQL database per test run (a unique name: several runs share the server), migrated and
    seeded once (a copy of `pg_template`), dropped at the end."""
    databases = _pg_database(pg_admin_url, prefix="notifier_run_", template=pg_template)
    url = next(databases)
    try:
        pristine = PristinePg(url)
        try:
            yield pristine
        finally:
            pristine.close()
    finally:
        databases.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of this test's own on each backend: migrated and seeded, or empty when marked so."""
    empty = request.node.get_closest_marker("empty_database") is not None
    if not empty:
        yield migrated_database(request, request.param, tmp_path / "notifier.db")
    elif request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'notifier.db'}"
    else:
        yield from _pg_database(request.getfixturevalue("pg_admin_url"))


def migrated_database(request: pytest.FixtureRequest, backend: str, sqlite_path: Path) -> str:
    """A database at its just-migrated and seeded content: on SQLite a copy of the session's file at
    `sqlite_path`, on PostgreSQL the run's database put back (what it held before is gone)."""
    if backend == "sqlite":
        shutil.copyfile(request.getfixturevalue("sqlite_template"), sqlite_path)
        return f"sqlite:///{sqlite_path}"
    pristine: PristinePg = request.getfixturevalue("pg_pristine")
    pristine.restore()
    return pristine.url


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashes() -> Iterator[None]:
    """Argon2id with argon2-cffi's CHEAPEST profile, which it ships for tests: the same code and hash
    format, without the 64 MiB and three passes that make each hash and login cost about half a second on
    this 2-core machine. Nothing asserts the cost; the tests assert who may log in."""
    from argon2 import PasswordHasher, profiles

    from notifier.workflows import accounts

    patch = pytest.MonkeyPatch()
    patch.setattr(accounts, "_hasher", PasswordHasher.from_parameters(profiles.CHEAPEST))
    yield
    patch.undo()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


def make_settings(db_url: str, tmp_path: Path, **overrides: Any):  # type: ignore[no-untyped-def]
    os.environ.pop("NOTIFIER_CONFIG", None)
    base: dict[str, Any] = {
        "database": {"url": db_url},
        "channels": {"file": {"path": str(tmp_path / "outbox.jsonl")}, "console": {}},
        "dispatch": {"backoff_base_seconds": 60, "max_attempts": 3},
        # A render stopped by its time limit is tried again later, so a drain in a test would leave it
        # unsent; the tests fix the clock, and a pause of a loaded test process (full garbage collections
        # averaged up to 1.5 s) must not count against a template. The limit's own tests set theirs.
        "rendering": {"timeout_seconds": 10},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return load_settings(Path(__file__).parent / "empty.toml", **base)


def migrated_service(db_url: str, tmp_path: Path, clock: FixedClock, **overrides: Any) -> Service:
    """A Service on a migrated database, built from `make_settings` with these overrides."""
    svc = Service.build(make_settings(db_url, tmp_path, **overrides), clock)
    svc.migrate()
    return svc


def chat_service(db_url: str, tmp_path: Path, clock: FixedClock, **overrides: Any) -> Service:
    """Like `migrated_service`, with the file channel rendering the richer `chat` templates."""
    channels = {"file": {"path": str(tmp_path / "outbox.jsonl"), "template": "chat"}, "console": {}}
    return migrated_service(db_url, tmp_path, clock, channels=channels, **overrides)


@pytest.fixture
def service(db_url: str, tmp_path: Path, clock: FixedClock) -> Iterator[Service]:
    svc = migrated_service(db_url, tmp_path, clock)
    yield svc
    svc.engine.dispose()


@pytest.fixture
def svc(db_url: str, tmp_path: Path, clock: FixedClock) -> Iterator[Service]:
    """The officer-workflow tests' service: chat templates in the outbox file."""
    s = chat_service(db_url, tmp_path, clock)
    yield s
    s.engine.dispose()


@pytest.fixture
def province(db_url: str, tmp_path: Path, clock: FixedClock) -> Iterator[Any]:
    """The demo province on a migrated database, its citizens texted through a scripted gateway
    (tests.browser.kit.ready_province), for the admin page's tests."""
    from tests.browser.kit import ready_province  # kit imports this module: not at the top

    p = ready_province(db_url, tmp_path, clock)
    yield p
    p.service.engine.dispose()
