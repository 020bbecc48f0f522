"""Stopping is not dying: a stop (SIGTERM, SIGHUP, Ctrl-C) lets the sends on the wire finish and be recorded.

A worker killed mid-send is covered by the lease (tests/test_crash.py). A worker that is *asked* to stop
should leave nothing for the lease: no row still `sending`, nothing a provider took without our record of
it, and the messages it had not begun back in the queue for the next worker at once.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import select

from benchmarks import harness
from notifier.channels.base import Message
from notifier.outbox.dispatch import DispatchStats
from notifier.rules.clock import FixedClock
from notifier.store.models import DeliveryAttempt, Notification
from notifier.workflows.service import Service
from tests.fakes.helpers import free_port, scripted_with_received
from tests.plugins import ScriptedSms


class HoldsTheFirst(ScriptedSms):
    """Holds the first message on the wire until the test lets it go."""

    def __init__(self) -> None:
        super().__init__()
        self.on_the_wire = asyncio.Event()
        self.answer = asyncio.Event()
        self.calls = 0

    async def send(self, message: Message) -> str:
        self.calls += 1
        if self.calls == 1:
            self.on_the_wire.set()
            await self.answer.wait()
        return await super().send(message)


def _five_received(db_url: str, tmp_path: Path, clock: FixedClock) -> tuple[Service, HoldsTheFirst]:
    svc = scripted_with_received(db_url, tmp_path, clock, dossiers=5, batch_size=5, concurrency=1)
    gateway = HoldsTheFirst()
    svc.channels.put("scripted", gateway)
    svc.settings.channels["scripted"] = {}
    return svc, gateway


def _rows(svc: Service) -> list[tuple[str, int, str | None, object]]:
    with svc.factory() as session:
        found = session.scalars(select(Notification).where(Notification.audience == "citizen").order_by(Notification.id))
        return [(n.status, n.attempts, n.claimed_by, n.lease_until) for n in found]


@asynccontextmanager
async def _first_on_the_wire(
    db_url: str, tmp_path: Path, clock: FixedClock
) -> AsyncIterator[tuple[Service, HoldsTheFirst, asyncio.Task[DispatchStats]]]:
    """A drain whose batch of five has its first message held on the wire."""
    svc, gateway = _five_received(db_url, tmp_path, clock)
    try:
        draining = asyncio.create_task(svc.dispatcher.drain())
        await asyncio.wait_for(gateway.on_the_wire.wait(), 30)
        yield svc, gateway, draining
    finally:
        gateway.answer.set()
        await svc.aclose()


async def test_a_stop_records_the_send_on_the_wire_and_gives_back_the_rest(
    db_url: str, tmp_path: Path, clock: FixedClock
) -> None:
    async with _first_on_the_wire(db_url, tmp_path, clock) as (svc, gateway, draining):
        stopping = asyncio.create_task(svc.dispatcher.stop(30))
        await asyncio.sleep(0.05)
        assert not stopping.done()  # it waits for the answer on the wire
        gateway.answer.set()
        still_sending = await asyncio.wait_for(stopping, 30)
        stats = await asyncio.wait_for(draining, 30)
        assert still_sending == 0
        assert (stats.claimed, stats.sent, stats.deferred) == (5, 1, 4)
        assert len(gateway.received) == 1 and gateway.calls == 1  # the other four were never begun
        rows = _rows(svc)
        # The one the gateway took is recorded sent; the four not begun are queued again, with no attempt
        # counted and no lease left on them: the next worker takes them at once.
        assert sorted(r[0] for r in rows) == ["queued"] * 4 + ["sent"]
        assert [r[1:] for r in rows if r[0] == "queued"] == [(0, None, None)] * 4
        with svc.factory() as session:
            assert len(session.scalars(select(DeliveryAttempt)).all()) == 1
        # A stopped dispatcher claims nothing more.
        assert (await svc.dispatcher.drain()).claimed == 0


async def test_a_send_that_outlasts_the_grace_is_left_to_its_lease(
    db_url: str, tmp_path: Path, clock: FixedClock
) -> None:
    async with _first_on_the_wire(db_url, tmp_path, clock) as (svc, gateway, draining):
        # The batch is cancelled, as a crash would end it: nothing recorded, the rows keep their lease (a
        # send cut off as the channels close must not be recorded as failed: it may have arrived).
        assert await svc.dispatcher.stop(0.2) == 1
        stats = await asyncio.wait_for(draining, 30)
        assert stats.claimed == 0 and gateway.received == []
        rows = _rows(svc)
        assert [r[0] for r in rows] == ["sending"] * 5 and all(r[3] is not None for r in rows)
        with svc.factory() as session:
            assert session.scalars(select(DeliveryAttempt)).all() == []


@pytest.mark.skipif(os.name != "posix", reason="signals")
@pytest.mark.parametrize("command", [("worker",), ("dispatch", "--once")])
def test_sigterm_leaves_no_row_leased_and_nothing_sent_twice(
    pg_own_database: str, tmp_path: Path, command: tuple[str, ...]
) -> None:
    # A real `notifier worker` (or `dispatch --once`) against the fake eSMS gateway, each message answered
    # after 0.6 s; SIGTERM while messages are on the wire, as systemd or docker stop send it.
    url = pg_own_database
    n = 120  # two batches of 20 in flight at once on PostgreSQL, three pairs: one is on the wire until the end
    gateway, port = harness.start_gateway(delay_ms=600)
    worker = None
    try:
        harness.seed_notifications(url, n)
        config = harness.write_config(tmp_path / "config.toml", url, port, batch=20, concurrency=10, lease_seconds=300)
        log = tmp_path / "worker.log"
        worker = harness.spawn_worker(config, log, command)

        def sent_and_on_the_wire() -> bool:
            now = harness.counts(url)
            return now.get("sent", 0) > 0 and now.get("sending", 0) > 0

        assert harness.wait_until(sent_and_on_the_wire, timeout=120), log.read_text()[-2000:]
        harness.stop(worker)  # SIGTERM; SIGKILL after 15 s
        assert worker.returncode == 0, log.read_text()[-2000:]
        after_stop = harness.counts(url)
        if command[0] == "dispatch":  # its figures are printed all the same
            assert f"sent {after_stop.get('sent', 0)}," in log.read_text(), log.read_text()[-2000:]
        stats = harness.gateway_stats(port)
        # Nothing left leased: each message the gateway took is recorded sent, the rest is queued again.
        assert "sending" not in after_stop, after_stop
        assert stats["requests"] == stats["accepted"]  # no request was cut off mid-way
        assert after_stop.get("sent", 0) == stats["accepted"] and after_stop.get("queued", 0) == n - stats["accepted"]
        assert after_stop.get("queued", 0) > 0  # (else the stop came too late to show anything)
        if command[0] == "worker":
            # The next worker sends the rest at once (no lease to wait for), and nothing twice.
            worker = harness.spawn_worker(config, tmp_path / "worker2.log")
            assert harness.wait_until(lambda: harness.counts(url).get("sent", 0) == n, timeout=120), harness.counts(url)
            final = harness.gateway_stats(port)
            assert final["accepted"] == n and final["distinct"] == n
            assert final["repeated_request_ids"] == 0 and final["delivered_twice"] == 0
    finally:
        if worker is not None:
            harness.stop(worker, hard=True)
        harness.stop(gateway, hard=True)


@pytest.mark.skipif(os.name != "posix" or shutil.which("nohup") is None, reason="signals, nohup")
def test_a_hangup_stops_it_as_sigterm_does_unless_started_under_nohup(pg_own_database: str, tmp_path: Path) -> None:
    # SIGHUP's default ends the process at once, like SIGTERM's: an operator's SSH session dropping took the
    # worker down mid-send. Now it winds down and exits 0; under nohup a hangup is ignored, as nohup means.
    url = pg_own_database
    gateway, port = harness.start_gateway()
    workers: list[subprocess.Popen[bytes]] = []
    try:
        harness.seed_notifications(url, 2)
        held = "UPDATE notifications SET not_before = now() + %s WHERE id = (SELECT max(id) FROM notifications)"
        with psycopg.connect(url, autocommit=True) as conn:  # the second waits for the second worker
            conn.execute(held, (timedelta(days=1),))
        config = harness.write_config(tmp_path / "config.toml", url, port)
        log = tmp_path / "worker.log"
        workers.append(harness.spawn_worker(config, log))
        # Sending, so its signal handlers are in place.
        assert harness.wait_until(lambda: harness.counts(url).get("sent", 0) == 1, timeout=60), log.read_text()
        harness.signal_session(workers[0], signal.SIGHUP)  # as when its terminal goes
        assert workers[0].wait(timeout=30) == 0, log.read_text()[-2000:]

        nohup_log = tmp_path / "nohup.log"
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(held, (timedelta(days=-1),))
        workers.append(harness.spawn_worker(config, nohup_log, wrapper=("nohup",)))
        assert harness.wait_until(lambda: harness.counts(url).get("sent", 0) == 2, timeout=60), nohup_log.read_text()
        harness.signal_session(workers[1], signal.SIGHUP)
        with pytest.raises(subprocess.TimeoutExpired):  # still running
            workers[1].wait(timeout=1)
        harness.stop(workers[1])  # SIGTERM
        assert workers[1].returncode == 0, nohup_log.read_text()[-2000:]
    finally:
        for worker in workers:
            harness.stop(worker, hard=True)
        harness.stop(gateway, hard=True)


@pytest.mark.skipif(os.name != "posix", reason="signals")
def test_a_hangup_stops_notifier_run_cleanly(pg_own_database: str, tmp_path: Path) -> None:
    # `notifier run` is served by uvicorn, which takes SIGINT and SIGTERM but not SIGHUP.
    url = pg_own_database
    gateway, port = harness.start_gateway()
    api_port = free_port()
    run = None
    try:
        harness.seed_notifications(url, 1)
        config = harness.write_config(tmp_path / "config.toml", url, port)
        log = tmp_path / "run.log"
        run = harness.spawn_worker(config, log, ("run", "--port", str(api_port)))
        # Sent: the web app's lifespan has started the dispatcher, inside the server's signal handling.
        assert harness.wait_until(lambda: harness.counts(url).get("sent", 0) == 1, timeout=60), log.read_text()
        harness.signal_session(run, signal.SIGHUP)
        assert run.wait(timeout=30) == 0, log.read_text()[-2000:]
        assert "Traceback" not in log.read_text()
    finally:
        if run is not None:
            harness.stop(run, hard=True)
        harness.stop(gateway, hard=True)
