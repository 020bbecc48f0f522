"""Two batches in flight on PostgreSQL: one is planned and recorded while the other's messages are sent."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import func, select

from notifier.channels.base import Message, TransientError
from notifier.rules.clock import FixedClock
from notifier.store.models import DeliveryAttempt, Notification
from notifier.workflows.ingest import upsert
from tests.conftest import migrated_service
from tests.factories import dossier, ts
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
    svc = migrated_service(
        db_url, tmp_path, clock, routing={"citizen": ["scripted"], "officer": ["file"], "head": ["file"]},
        dispatch={"batch_size": 2},
    )
    with svc.factory() as session, session.begin():
        items = [dossier(f"{i:04d}", TrangThaiHoSo=2, NgayTiepNhan=ts(2026, 12, 1, 8, 0)) for i in range(6)]
        assert not upsert(session, items, clock.now(), source="test").errors
    svc.scan()
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
