"""Two batches in flight on PostgreSQL: one is planned and recorded while the other's messages are sent."""

from __future__ import annotations

import asyncio
import gc
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import func, select, update
from sqlalchemy.exc import DBAPIError

from notifier.channels.base import Message, TransientError
from notifier.rules.clock import FixedClock
from notifier.store.models import DeliveryAttempt, Notification
from tests.fakes.helpers import scripted_with_received
from tests.plugins import ScriptedSms


class Rendezvous(ScriptedSms):
    """Holds the first message of the first batch until a message of another batch is on the wire too:
    only then can both batches have been in flight at once. Gives up after `patience` seconds."""

    def __init__(self, first_batch: set[int], patience: float) -> None:
        super().__init__()
        self.first_batch = first_batch
        self.patience = patience
        self.other_batch_seen = asyncio.Event()
        self.overlapped = False

    async def send(self, message: Message) -> str:
        if message.notification_id not in self.first_batch:
            self.other_batch_seen.set()
        elif message.notification_id == min(self.first_batch) and not self.overlapped:
            try:
                await asyncio.wait_for(self.other_batch_seen.wait(), self.patience)
                self.overlapped = True
            except TimeoutError as exc:
                raise TransientError("the next batch never started while this one was sending") from exc
        return await super().send(message)


async def test_the_next_batch_is_sent_while_the_first_is_still_sending(
    db_url: str, tmp_path: Path, clock: FixedClock
) -> None:
    svc = scripted_with_received(db_url, tmp_path, clock, dossiers=6, batch_size=2)
    with svc.factory() as session:
        ids = sorted(session.scalars(select(Notification.id)))
    postgres = db_url.startswith("postgresql")
    gateway = Rendezvous(set(ids[:2]), patience=10 if postgres else 1)
    svc.channels.put("scripted", gateway)
    svc.settings.channels["scripted"] = {}

    stats = await svc.dispatcher.drain()

    with svc.factory() as session:
        attempts = session.scalar(select(func.count()).select_from(DeliveryAttempt))
    if postgres:
        assert gateway.overlapped
        assert (stats.sent, stats.retried, attempts) == (6, 0, 6)
        assert sorted(m.notification_id for m in gateway.received) == ids  # each once
    else:
        # One writer: SQLite's batches take turns, so the held message waits in vain and is retried.
        assert not gateway.overlapped
        assert (stats.sent, stats.retried) == (5, 1)


class MakesOneDue(ScriptedSms):
    """On the first send, makes a waiting row due: a row that becomes due while a batch is on the wire."""

    def __init__(self, svc: Any, row_id: int) -> None:
        super().__init__()
        self.svc, self.row_id, self.done = svc, row_id, False

    async def send(self, message: Message) -> str:
        if not self.done:
            self.done = True
            with self.svc.factory() as session, session.begin():
                session.execute(
                    update(Notification)
                    .where(Notification.id == self.row_id)
                    .values(not_before=self.svc.clock.now() - timedelta(seconds=1))
                )
        return await super().send(message)


async def test_a_row_that_becomes_due_during_a_batch_goes_in_the_same_drain(
    db_url: str, tmp_path: Path, clock: FixedClock
) -> None:
    # With two batches in flight the second claim finds nothing (the first holds it all); the drain must
    # look again once the first is done instead of leaving the new row to the next poll.
    svc = scripted_with_received(db_url, tmp_path, clock, dossiers=3, batch_size=10)
    with svc.factory() as session, session.begin():
        ids = sorted(session.scalars(select(Notification.id)))
        session.execute(
            update(Notification).where(Notification.id == ids[-1]).values(not_before=clock.now() + timedelta(days=1))
        )
    gateway = MakesOneDue(svc, ids[-1])
    svc.channels.put("scripted", gateway)
    svc.settings.channels["scripted"] = {}

    stats = await svc.dispatcher.drain()

    assert stats.sent == 3
    assert sorted(m.notification_id for m in gateway.received) == ids


class CutsTheDatabase(ScriptedSms):
    """Once a message of each of the two batches is on the wire, takes the database away, so that both
    batches fail as they record what they sent."""

    def __init__(self, cut: Any) -> None:
        super().__init__()
        self.cut, self.on_the_wire, self.both = cut, 0, asyncio.Event()

    async def send(self, message: Message) -> str:
        self.on_the_wire += 1
        if self.on_the_wire == 2:
            self.cut()
            self.both.set()
        await asyncio.wait_for(self.both.wait(), 10)
        return await super().send(message)


async def test_both_batches_failing_in_one_outage_raise_once_and_leave_no_error_unread(
    pg_own_database: str, pg_admin_url: str, tmp_path: Path, clock: FixedClock
) -> None:
    # The scheduler logs a failed drain once ("database unavailable"); the other batch's error must not
    # also reach asyncio's "Task exception was never retrieved", with a traceback, for every run of an outage.
    svc = scripted_with_received(pg_own_database, tmp_path, clock, dossiers=2, batch_size=1)
    name = pg_own_database.rsplit("/", 1)[1]

    def connections(allow: bool) -> None:
        with psycopg.connect(pg_admin_url, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(allow).lower()}')
            if not allow:
                conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))

    gateway = CutsTheDatabase(lambda: connections(False))
    svc.channels.put("scripted", gateway)
    svc.settings.channels["scripted"] = {}
    unread: list[str] = []
    asyncio.get_running_loop().set_exception_handler(lambda _loop, context: unread.append(context["message"]))
    try:
        failed = False
        try:
            await svc.dispatcher.drain()
        except DBAPIError:
            failed = True  # (not pytest.raises: its record of the error would keep the batches' tasks alive)
        assert failed and gateway.on_the_wire == 2
        gc.collect()  # asyncio reports an error nobody read when its task is collected
        assert unread == []
    finally:
        connections(True)
        svc.engine.dispose()
