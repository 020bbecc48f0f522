"""Login floods are refused before any password is hashed; a stranger cannot keep an admin locked out."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from jobs.cli import app as cli
from notifier.rules.clock import FixedClock
from notifier.rules.ratelimit import FailureLimit, LoginRules
from notifier.store.limits import LoginFailures
from notifier.store.models import AuditEntry
from notifier.web.admin.auth import Locked, LoginThrottle
from notifier.web.api import create_app
from notifier.workflows.service import Service
from tests.browser.kit import Province, login

WINDOW = timedelta(minutes=15)
RULES = LoginRules(
    name_and_address=FailureLimit(3, WINDOW),
    address=FailureLimit(5, WINDOW),
    name=FailureLimit(8, WINDOW),
    overall=FailureLimit(12, timedelta(minutes=5)),
)


def _fail(failures: LoginFailures, name: str, address: str, now: object, times: int) -> list[int | None]:
    return [failures.begin(name, address, now) for _ in range(times)]  # type: ignore[arg-type]


def test_a_strangers_failures_lock_the_name_only_for_the_stranger(
    province: Province, clock: FixedClock
) -> None:
    failures = LoginFailures(province.service.factory, RULES)
    now = clock.now()
    assert None not in _fail(failures, "quantri", "198.51.100.66", now, 3)
    assert failures.begin("quantri", "198.51.100.66", now) is None  # the stranger waits
    assert failures.begin("quantri", "203.0.113.7", now) is not None  # the admin's office does not


def test_one_address_spraying_names_is_stopped_for_every_name(province: Province, clock: FixedClock) -> None:
    failures = LoginFailures(province.service.factory, RULES)
    now = clock.now()
    assert None not in [failures.begin(f"name{i}", "198.51.100.66", now) for i in range(5)]
    assert failures.begin("another-name", "198.51.100.66", now) is None
    assert failures.begin("another-name", "203.0.113.7", now) is not None


def test_a_name_guessed_from_many_addresses_locks_and_unlock_lifts_it(
    province: Province, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    failures = LoginFailures(province.service.factory, RULES)
    now = clock.now()
    assert None not in [failures.begin("quantri", f"198.51.100.{i}", now) for i in range(8)]
    assert failures.begin("quantri", "203.0.113.7", now) is None  # even from the admin's own address
    monkeypatch.setenv("NOTIFIER_DATABASE__URL", str(province.service.settings.database.url))
    result = CliRunner().invoke(cli, ["user", "unlock", "QuanTri"])
    assert result.exit_code == 0, result.output
    assert "quantri: 8 failed logins cleared" in result.output
    assert failures.begin("quantri", "203.0.113.7", now) is not None
    with province.service.factory() as session:
        assert session.scalar(select(AuditEntry.action).where(AuditEntry.action == "user.unlock"))


def test_all_names_from_all_addresses_stop_at_the_overall_limit(
    province: Province, clock: FixedClock
) -> None:
    failures = LoginFailures(province.service.factory, RULES)
    now = clock.now()
    assert None not in [failures.begin(f"n{i}", f"198.51.100.{i}", now) for i in range(12)]
    assert failures.begin("quantri", "203.0.113.7", now) is None
    clock.advance(timedelta(minutes=5, seconds=1))  # the overall window is shorter: the CPU guard only
    assert failures.begin("quantri", "203.0.113.7", clock.now()) is not None


def test_the_web_login_counts_by_address(province: Province) -> None:
    app = create_app(province.service)
    stranger = TestClient(app, client=("198.51.100.66", 40000))
    office = TestClient(app, client=("203.0.113.7", 40000))
    for _ in range(5):
        assert login(stranger, "quantri", "doan-mo-mat-khau").status_code == 401
    assert login(stranger, "quantri").status_code == 429
    assert login(office, "quantri").status_code == 303


async def test_tries_beyond_the_hashing_queue_are_refused_without_waiting(province: Province) -> None:
    settings = province.service.settings
    service = Service.build(
        settings.model_copy(
            update={"admin": settings.admin.model_copy(update={"login_concurrency": 1, "login_queue": 1})}
        ),
        province.service.clock,
    )
    try:
        throttle = LoginThrottle(service)
        await throttle.hashing.acquire()  # a slow hash in progress
        waiting = asyncio.create_task(throttle.check_async("quantri", "x" * 12, "203.0.113.7"))
        for _ in range(500):  # its try is counted in a worker thread first, then it queues for the slot
            if throttle.waiting:
                break
            await asyncio.sleep(0.02)
        assert throttle.waiting == 1
        # The queue is full: refused at once, no thread taken, no password hashed.
        assert isinstance(await throttle.check_async("stp", "y" * 12, "203.0.113.8"), Locked)
        throttle.hashing.release()
        assert await waiting is None  # the queued one went on: a wrong password
    finally:
        service.engine.dispose()


def test_the_session_cookie_is_secure_unless_served_on_loopback(province: Province) -> None:
    from notifier.web.admin.app import cookie_secure

    settings = province.service.settings

    def with_(api_host: str, forced: bool | None = None) -> bool:
        changed = settings.model_copy(
            update={
                "api": settings.api.model_copy(update={"host": api_host}),
                "admin": settings.admin.model_copy(update={"cookie_secure": forced}),
            }
        )
        return cookie_secure(dataclasses.replace(province.service, settings=changed))

    assert (with_("127.0.0.1"), with_("::1"), with_("0.0.0.0"), with_("10.0.0.5")) == (
        False,
        False,
        True,
        True,
    )
    assert (with_("0.0.0.0", False), with_("127.0.0.1", True)) == (False, True)
