"""Shared fixtures: a database per test on SQLite and on PostgreSQL, a fixed clock, a service."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from notifier.config import load_settings
from notifier.rules.clock import VN_TZ, FixedClock
from notifier.workflows.service import Service

PG_ADMIN = os.environ.get("NOTIFIER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    try:
        with psycopg.connect(PG_ADMIN, connect_timeout=5):
            pass
    except psycopg.OperationalError as exc:  # never skip quietly: the storage layer must run on both
        pytest.fail(f"PostgreSQL at {PG_ADMIN} is not reachable ({exc}); scripts/test starts it")
    return PG_ADMIN


def _pg_database(admin_url: str) -> Iterator[str]:
    """A fresh database for one test, dropped afterwards, so runs never see each other's data."""
    name = f"notifier_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = admin_url.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'notifier.store.engine'}"
    else:
        yield from _pg_database(request.getfixturevalue("pg_admin_url"))


# Tuesday 01/12/2026, 09:00 Vietnam time: a working day, in working hours, outside quiet hours.
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=VN_TZ)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


def make_settings(db_url: str, tmp_path: Path, **overrides: Any):  # type: ignore[no-untyped-def]
    os.environ.pop("NOTIFIER_CONFIG", None)
    base: dict[str, Any] = {
        "database": {"url": db_url},
        "channels": {"file": {"path": str(tmp_path / "outbox.jsonl")}, "console": {}},
        "dispatch": {"backoff_base_seconds": 60, "max_attempts": 3},
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
