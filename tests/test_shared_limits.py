"""Rate limits shared through the database: several workers (each with its own engine, as separate
processes have) hand out a channel's tokens once between them, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from sqlalchemy import select

from notifier.channels.base import BaseChannel, ChannelSettings, Message, Recipient
from notifier.channels.common import ProviderSettings
from notifier.outbox.dispatch import Dispatcher
from notifier.rules.clock import FixedClock
from notifier.rules.ratelimit import Limits, RateLimited
from notifier.store.engine import make_engine, session_factory
from notifier.store.limits import SharedRateLimits
from notifier.store.models import Notification, RateBucket
from notifier.workflows.ingest import upsert
from notifier.workflows.service import Service
from tests.conftest import migrated_service
from tests.factories import dossier, ts


class Tick:
    """A hand-moved wall clock (seconds), shared by the workers of one test."""

    def __init__(self) -> None:
        self.t = 1_800_000_000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def service(db_url: str, tmp_path: Path, clock: FixedClock) -> Iterator[Service]:
    svc = migrated_service(db_url, tmp_path, clock)
    yield svc
    svc.engine.dispose()


@pytest.fixture
def workers(db_url: str, service: Service) -> Iterator[list[Any]]:
    """Four session factories on four engines: what four worker processes would have."""
    engines = [make_engine(db_url) for _ in range(4)]
    yield [session_factory(e) for e in engines]
    for e in engines:
        e.dispose()


def sms(**limits: Any) -> Limits:
    """The limits a provider channel with these settings declares."""
    return ProviderSettings(**limits).rate_limits()


def granted(results: list[float | RateLimited]) -> list[float]:
    return [r for r in results if not isinstance(r, RateLimited)]


# Ten a second, five at once, at most one second's wait: at one instant 5 + 10 slots exist.
TEN_A_SECOND = sms(rate_per_second=10, burst=5, max_wait_seconds=1)
EXPECTED_SLOTS = sorted([0.0] * 5 + [k / 10 for k in range(1, 11)])


def test_workers_taking_turns_share_one_bucket(workers: list[Any]) -> None:
    tick = Tick()
    a, b = (SharedRateLimits(f, wall=tick) for f in workers[:2])
    results: list[float | RateLimited] = []
    for _ in range(3):
        results += a.reserve_many("esms", TEN_A_SECOND, [f"09120000{i:02}" for i in range(4)])
        results += b.reserve_many("esms", TEN_A_SECOND, [f"09130000{i:02}" for i in range(4)])
    assert sorted(granted(results)) == pytest.approx(EXPECTED_SLOTS)
    refused = [r for r in results if isinstance(r, RateLimited)]
    assert len(refused) == 24 - 15 and all(r.delay == pytest.approx(1.1) for r in refused)
    tick.t += 0.5  # five tokens paid back: the queue is five slots shorter
    assert len(granted(b.reserve_many("esms", TEN_A_SECOND, ["0912"] * 10))) == 5


def test_workers_reserving_at_the_same_moment_never_exceed_the_rate(workers: list[Any]) -> None:
    tick = Tick()
    limits = [SharedRateLimits(f, wall=tick) for f in workers]
    start = threading.Barrier(len(limits))
    results: list[float | RateLimited] = []
    lock = threading.Lock()

    def worker(shared: SharedRateLimits) -> None:
        start.wait()
        for _ in range(8):
            got = shared.reserve_many("esms", TEN_A_SECOND, ["0912000001", "0912000002"])
            with lock:
                results.extend(got)

    threads = [threading.Thread(target=worker, args=(s,)) for s in limits]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Every slot was handed out exactly once: a lost update would have given some twice.
    assert sorted(granted(results)) == pytest.approx(EXPECTED_SLOTS)


def test_a_chat_limit_holds_across_workers_and_spares_other_chats(workers: list[Any]) -> None:
    tick = Tick()
    telegram = sms(rate_per_second=30, burst=30, per_recipient_per_second=1, max_wait_seconds=0)
    a, b = (SharedRateLimits(f, wall=tick) for f in workers[:2])
    assert a.reserve("telegram", telegram, "42") == 0
    with pytest.raises(RateLimited) as info:
        b.reserve("telegram", telegram, "42")
    assert info.value.delay == pytest.approx(1.0)
    assert b.reserve("telegram", telegram, "43") == 0
    tick.t += 1
    assert b.reserve("telegram", telegram, "42") == 0


def test_an_address_longer_than_the_column_gets_a_bucket_of_its_own(workers: list[Any]) -> None:
    tick = Tick()
    shared = SharedRateLimits(workers[0], wall=tick)
    per_address = sms(per_recipient_per_second=1, max_wait_seconds=0)
    long_a, long_b = "a" * 300 + "@example.vn", "a" * 300 + "@example.com"
    assert shared.reserve_many("webhook", per_address, [long_a, long_b, long_a])[:2] == [0, 0]
    with pytest.raises(RateLimited):
        shared.reserve("webhook", per_address, long_b)


def test_refill_and_idle_rows_are_forgotten(service: Service, workers: list[Any]) -> None:
    tick = Tick()
    shared = SharedRateLimits(workers[0], wall=tick)
    telegram = sms(rate_per_second=30, burst=30, per_recipient_per_second=1)
    shared.reserve_many("telegram", telegram, ["1", "2", "3"])
    with service.factory() as session:
        rows = {r.recipient: r for r in session.scalars(select(RateBucket))}
    assert set(rows) == {"", "1", "2", "3"}
    assert rows["1"].tokens == pytest.approx(0) and rows[""].tokens == pytest.approx(27)
    assert rows["1"].idle_at == pytest.approx(tick.t + 1) and rows[""].idle_at == pytest.approx(tick.t + 0.1)
    tick.t += shared.PRUNE_EVERY
    shared.reserve("telegram", telegram, "4")
    with service.factory() as session:
        assert set(session.scalars(select(RateBucket.recipient))) == {"", "4"}
    assert shared.reserve("telegram", telegram, "1") == 0  # a forgotten bucket comes back full


def test_a_worker_whose_clock_is_behind_does_not_freeze_the_channel(workers: list[Any]) -> None:
    ahead, behind = Tick(), Tick()
    ahead.t += 3600  # a host an hour ahead took the last token
    limited = sms(rate_per_second=1, burst=1, max_wait_seconds=5)
    assert SharedRateLimits(workers[0], wall=ahead).reserve("esms", limited, "1") == 0
    # The bucket goes on from the reader's time: a second's wait, not an hour's.
    assert SharedRateLimits(workers[1], wall=behind).reserve("esms", limited, "2") == pytest.approx(1.0)


def test_unlimited_channels_do_not_touch_the_database(service: Service, workers: list[Any]) -> None:
    shared = SharedRateLimits(workers[0], wall=Tick())
    assert shared.reserve_many("file", None, ["a", "b"]) == [0.0, 0.0]
    with service.factory() as session:
        assert session.scalars(select(RateBucket)).all() == []


# ------------------------------------------------------------------------------------------- dispatch


class LimitedSettings(ProviderSettings):
    template: str | None = "sms"


class LimitedSms(BaseChannel):
    """A provider that takes three messages and then one an hour, whichever worker sends them."""

    name: ClassVar[str] = "limited_sms"
    medium: ClassVar[str] = "sms"
    settings_model: ClassVar[type[ChannelSettings]] = LimitedSettings

    def __init__(self, clock: FixedClock, sent: list[Message]) -> None:
        settings = LimitedSettings(rate_per_second=1 / 3600, burst=3, max_wait_seconds=0)
        super().__init__(settings, clock, "limited_sms")
        self.sent = sent

    def address_for(self, recipient: Recipient) -> str | None:
        return recipient.phone

    def rate_limits(self) -> Limits:  # declares HasRateLimits
        assert isinstance(self.settings, LimitedSettings)
        return self.settings.rate_limits()

    async def send(self, message: Message) -> str:
        self.sent.append(message)
        return f"ls-{len(self.sent)}"


async def test_two_dispatchers_on_one_database_keep_the_channel_rate_together(
    db_url: str, tmp_path: Path, clock: FixedClock
) -> None:
    routing = {"citizen": ["limited_sms"], "officer": ["file"], "head": ["file"]}
    services = [migrated_service(db_url, tmp_path, clock, routing=routing) for _ in range(2)]
    sent: list[Message] = []
    for svc in services:
        svc.channels.put("limited_sms", LimitedSms(clock, sent))
    first = services[0]
    items = [
        dossier(f"000.00.30.H26-261120-{i:04}", SoDienThoai=f"09120000{i:02}", TrangThaiHoSo=2,
                NgayTiepNhan=ts(2026, 12, 1, 8, 0))
        for i in range(1, 11)
    ]  # fmt: skip
    with first.factory() as session, session.begin():
        assert not upsert(session, items, clock.now(), source="test").errors
    first.scan()
    try:
        dispatchers = [
            Dispatcher(s.factory, s.settings, s.clock, s.channels, s.calendar, worker_id=f"w{i}")
            for i, s in enumerate(services)
        ]
        stats = [await d.run_once(limit=5) for d in dispatchers]
        with first.factory() as session:
            rows = list(session.scalars(select(Notification)))
    finally:
        for svc in services:
            svc.engine.dispose()
    assert [s.claimed for s in stats] == [5, 5]
    assert len(sent) == 3  # the burst, once, not once per worker
    assert sum(s.deferred for s in stats) == 7
    waiting = [n for n in rows if n.status == "queued"]
    assert len(waiting) == 7 and all(n.attempts == 0 for n in waiting)  # no attempt spent on waiting
    assert min(n.not_before for n in waiting) > clock.now()
