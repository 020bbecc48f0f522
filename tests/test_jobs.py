"""The scheduler's jobs, each run once on a migrated service with data, and how the scheduler wires them.

Also the `notifier purge` command, which runs the same retention purge by hand."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.events import EVENT_JOB_MISSED
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import select
from typer.testing import CliRunner

from jobs import tasks
from jobs.cli import app
from jobs.scheduler import Scheduler, build_scheduler
from notifier.outbox.retention import PURGED
from notifier.rules.clock import VN_TZ, FixedClock
from notifier.store.models import Notification
from notifier.workflows.ingest import upsert
from notifier.workflows.service import Service
from tests.conftest import T0, migrated_service
from tests.factories import dossier, ts


def _received(service: Service, code: str = "000.00.30.H26-261120-0001") -> None:
    """A dossier just received: the next scan queues the citizen's `received` message."""
    with service.factory() as session, session.begin():
        upsert(session, [dossier(code, TrangThaiHoSo=2, NgayTiepNhan=ts(2026, 12, 1, 8, 0))], service.clock.now(), "t")


def _statuses(service: Service) -> list[tuple[str, str | None, str | None]]:
    """(status, body, error) of every notification, in id order."""
    with service.factory() as session:
        rows = session.execute(
            select(Notification.status, Notification.body, Notification.error).order_by(Notification.id)
        )
        return [(r.status, r.body, r.error) for r in rows]


@pytest.fixture
def retained(db_url: str, tmp_path: Path, clock: FixedClock) -> Iterator[Service]:
    """A migrated service keeping finished notifications 30 days (not the default 90)."""
    svc = migrated_service(db_url, tmp_path, clock, retention={"days": 30})
    yield svc
    svc.engine.dispose()


# -- the job functions --------------------------------------------------------------------------------------


async def test_scan_dispatch_reclaim_and_purge_jobs_each_run(retained: Service, tmp_path: Path) -> None:
    svc = retained
    _received(svc, "JOB-1")
    scanned = await tasks.scan(svc)
    assert scanned.total == 1 and not scanned.skipped

    sent = await tasks.dispatch(svc)
    assert (sent.claimed, sent.sent) == (1, 1)
    lines = [json.loads(x) for x in (tmp_path / "outbox.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(x["kind"], x["dossier_code"]) for x in lines] == [("received", "JOB-1")]

    # A worker that claimed a row and died: reclaim gives it back once the lease is over, not before.
    _received(svc, "JOB-2")
    await tasks.scan(svc)
    assert svc.dispatcher.claim(svc.clock.now(), 10) != []
    assert await tasks.reclaim(svc) == 0
    svc.clock.advance(timedelta(seconds=svc.settings.dispatch.lease_seconds + 1))  # type: ignore[attr-defined]
    assert await tasks.reclaim(svc) == 1
    assert [s for s, _, _ in _statuses(svc)] == ["sent", "queued"]

    # Retention reads [retention] days: nothing at 29 days, the sent row at 31; the queued one is kept.
    assert _statuses(svc)[0][1]  # the sent text is still there
    svc.clock.advance(timedelta(days=29))  # type: ignore[attr-defined]
    assert await tasks.purge(svc) == 0
    svc.clock.advance(timedelta(days=2))  # type: ignore[attr-defined]
    assert await tasks.purge(svc) == 1
    finished, waiting = _statuses(svc)
    assert finished == ("sent", None, PURGED)
    assert waiting[0] == "queued" and waiting[2] != PURGED


# -- the scheduler ------------------------------------------------------------------------------------------


def _jobs(service: Service, **variant: bool) -> dict[str, tuple[object, timedelta, list[object]]]:
    scheduler = build_scheduler(service, **variant)
    found: dict[str, tuple[object, timedelta, list[object]]] = {}
    for job in scheduler.get_jobs():
        assert isinstance(job.trigger, IntervalTrigger)
        # One instance at a time, missed runs merged: a slow scan never piles up behind itself.
        assert (job.max_instances, job.coalesce, job.misfire_grace_time) == (1, True, 60)
        found[job.id] = (job.func, job.trigger.interval, list(job.args))
    return found


def test_scheduler_registers_each_job_with_its_interval(db_url: str, tmp_path: Path, clock: FixedClock) -> None:
    svc = migrated_service(
        db_url, tmp_path, clock, scan={"interval_seconds": 120}, dispatch={"interval_seconds": 2.5, "lease_seconds": 90}
    )
    try:
        scan = (tasks.scan, timedelta(seconds=120), [svc])
        purge = (tasks.purge, timedelta(hours=6), [svc])
        dispatch = (tasks.dispatch, timedelta(seconds=2.5), [svc])
        reclaim = (tasks.reclaim, timedelta(seconds=45), [svc])  # half the lease
        callbacks = (tasks.callbacks, timedelta(seconds=2), [svc])
        workers = {"dispatch": dispatch, "callbacks": callbacks, "reclaim": reclaim}
        assert _jobs(svc) == {"scan": scan, "purge": purge, **workers}
        # `notifier scheduler`: scans and the purge only; `notifier worker`: the dispatcher only.
        assert _jobs(svc, dispatch=False) == {"scan": scan, "purge": purge}
        assert _jobs(svc, scans=False) == workers
    finally:
        svc.engine.dispose()


# -- `notifier purge` ---------------------------------------------------------------------------------------


def _config(tmp_path: Path, db_url: str, days: int) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f'[database]\nurl = "{db_url}"\n[channels.file]\npath = "{tmp_path / "cli-outbox.jsonl"}"\n'
        f"[retention]\ndays = {days}\n",
        encoding="utf-8",
    )
    return path


def test_purge_command_uses_the_retention_setting(
    retained: Service, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NOTIFIER_CONFIG", raising=False)
    svc = retained
    _received(svc)
    svc.scan()
    assert asyncio.run(svc.dispatcher.drain()).sent == 1
    config = str(_config(tmp_path, db_url, 30))
    runner = CliRunner()

    def purge_at(days: int) -> str:
        now = (T0 + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M")
        result = runner.invoke(app, ["--config", config, "purge", "--now", now])
        assert result.exit_code == 0, result.output
        return result.output.strip()

    # A chat form left half-way (it may hold what the citizen was writing): the by-hand purge drops it
    # too once expired, as the scheduled one does (it stayed).
    from notifier.store import chat_states
    from notifier.store.models import ChatFormState

    with svc.factory() as session, session.begin():
        chat_states.save(session, "zalo_oa", "zalo_oa:1", "feedback", {"text": "nhà tôi"}, T0, timedelta(days=1))

    assert purge_at(29) == "purged 0 notifications"
    assert purge_at(31) == "purged 1 notifications"
    with svc.factory() as session:
        row = session.scalars(select(Notification)).one()
        assert session.scalars(select(ChatFormState)).all() == []
    assert (row.status, row.body, row.recipient, row.error) == ("sent", None, None, PURGED)


def test_purge_help_names_the_setting() -> None:
    result = CliRunner().invoke(app, ["purge", "--help"], env={"COLUMNS": "200"}, terminal_width=200)
    assert result.exit_code == 0
    assert "older than [retention] days (default 90)" in result.output


async def test_scan_dispatch_and_reclaim_run_at_start_not_an_interval_later(
    db_url: str, tmp_path: Path, clock: FixedClock
) -> None:
    # A worker's first drain used to be awaited before the scheduler started: an outage then killed the
    # worker, and the reclaim of a dead worker's rows waited for that drain. Now each runs at start.
    svc = migrated_service(db_url, tmp_path, clock, scan={"interval_seconds": 600})
    scheduler = build_scheduler(svc)
    scheduler.start(paused=True)
    try:
        due = {job.id: job.next_run_time for job in scheduler.get_jobs()}
        soon = datetime.now(VN_TZ) + timedelta(seconds=5)
        assert due["scan"] <= soon and due["dispatch"] <= soon and due["reclaim"] <= soon, due
        assert due["purge"] > soon  # the purge keeps its 6-hour rhythm
    finally:
        scheduler.shutdown(wait=False)
        svc.engine.dispose()


# -- stopping -----------------------------------------------------------------------------------------------


def _a_held_run() -> tuple[Scheduler, asyncio.Event, asyncio.Event, list[str]]:
    """A scheduler with one job, due at once, that holds until `answer` is set."""
    scheduler = Scheduler(timezone=VN_TZ)
    started, answer, ended = asyncio.Event(), asyncio.Event(), []

    async def held() -> None:
        started.set()
        try:
            await answer.wait()
            ended.append("finished")
        except asyncio.CancelledError:
            ended.append("cancelled")
            raise

    scheduler.add_job(held, "interval", hours=1, next_run_time=datetime.now(VN_TZ), id="held", coalesce=True)
    return scheduler, started, answer, ended


async def test_a_stop_lets_a_run_in_progress_finish_instead_of_cancelling_it(caplog: pytest.LogCaptureFixture) -> None:
    # APScheduler's shutdown cancels it and logs that as the job's error, with a traceback, at every stop.
    scheduler, started, answer, ended = _a_held_run()
    scheduler.start()
    await asyncio.wait_for(started.wait(), 10)
    stopping = asyncio.create_task(scheduler.stop(30))
    await asyncio.sleep(0.2)
    assert not stopping.done()  # waiting for the run
    answer.set()
    await asyncio.wait_for(stopping, 10)
    assert ended == ["finished"] and not scheduler.running
    assert "raised an exception" not in caplog.text


async def test_a_run_past_the_stops_grace_is_cancelled_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    scheduler, started, _, ended = _a_held_run()
    scheduler.start()
    await asyncio.wait_for(started.wait(), 10)
    await asyncio.wait_for(scheduler.stop(0.2), 10)
    for _ in range(100):  # the cancellation reaches the run, and APScheduler logs its end
        if "cut off" in caplog.text:
            break
        await asyncio.sleep(0.01)
    assert ended == ["cancelled"] and not scheduler.running
    [record] = [r for r in caplog.records if r.name.startswith("apscheduler.executors")]
    assert record.levelname == "WARNING" and record.exc_info is None
    assert record.getMessage().startswith('Job "_a_held_run.<locals>.held') and record.getMessage().endswith(": cut off by the stop")


async def test_runs_in_progress_counts_a_missed_run_as_ended() -> None:
    # A run submitted too late ends in "missed", not "executed": a stop must not wait for it.
    scheduler = Scheduler(timezone=VN_TZ)
    ran: list[bool] = []

    async def late() -> None:
        ran.append(True)

    missed = datetime.now(VN_TZ) - timedelta(minutes=5)
    scheduler.add_job(late, "interval", hours=1, next_run_time=missed, misfire_grace_time=1, coalesce=True)
    seen = asyncio.Event()
    scheduler.add_listener(lambda _event: seen.set(), EVENT_JOB_MISSED)
    scheduler.start()
    try:
        await asyncio.wait_for(seen.wait(), 10)
        assert ran == [] and scheduler.runs_in_progress == 0
    finally:
        scheduler.shutdown(wait=False)
