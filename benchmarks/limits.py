"""What shared rate limits cost, and that they hold: reservations from the `rate_buckets` table one message
at a time vs one batch at a time (as the dispatcher does), against the in-process buckets; then several
real processes reserving from one bucket as fast as they can, counting what they were granted.

    .venv/bin/python -m benchmarks.limits [--batch 200] [--batches 20] [--processes 4] [--seconds 3]
"""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import pg_database, report, save
from notifier.channels.common import ProviderSettings
from notifier.rules.ratelimit import RateLimited, RateLimits
from notifier.store.engine import make_engine, session_factory, upgrade
from notifier.store.limits import SharedRateLimits

# Generous enough that nothing is refused: only the cost of a reservation is measured.
WIDE = ProviderSettings(rate_per_second=1e6, burst=1_000_000).rate_limits()
PER_CHAT = ProviderSettings(rate_per_second=1e6, burst=1_000_000, per_recipient_per_second=1e6,
                            per_recipient_burst=1_000_000).rate_limits()  # fmt: skip
# The contention run: a provider allowing 500/s, 50 at once; a slot may be up to half a second away.
TIGHT = ProviderSettings(rate_per_second=500, burst=50, max_wait_seconds=0.5).rate_limits()


def per_message_us(limits: Any, settings: ProviderSettings, n: int) -> float:
    start = time.perf_counter()
    for i in range(n):
        limits.reserve("bench", settings.rate_limits(), f"09120{i:05}")
    return (time.perf_counter() - start) / n * 1e6


def per_batch_ms(limits: Any, settings: ProviderSettings, batch: int, batches: int) -> float:
    start = time.perf_counter()
    for b in range(batches):
        limits.reserve_many("bench", settings.rate_limits(), [f"0912{b:02}{i:05}" for i in range(batch)])
    return (time.perf_counter() - start) / batches * 1e3


def _contend(url: str, seconds: float, batch: int, out: Any) -> None:
    engine = make_engine(url)
    shared = SharedRateLimits(session_factory(engine))
    shared.reserve_many("warm-up", WIDE, ["x"])  # connect before the clock starts
    granted = calls = 0
    first = time.time()
    end = first + seconds
    while time.time() < end:
        results = shared.reserve_many("tight", TIGHT, [f"09{i:08}" for i in range(batch)])
        granted += sum(not isinstance(r, RateLimited) for r in results)
        calls += 1
    out.put((granted, calls, first, time.time()))
    engine.dispose()


def contention(url: str, processes: int, seconds: float, batch: int) -> dict[str, float]:
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_contend, args=(url, seconds, batch, out)) for _ in range(processes)]
    for p in procs:
        p.start()
    got = [out.get() for _ in procs]
    for p in procs:
        p.join()
    # From the first reservation of any process to the last: the bucket starts full (the burst) and slots
    # may be handed out up to max_wait_seconds ahead.
    window = max(g[3] for g in got) - min(g[2] for g in got)
    allowed = TIGHT.burst + TIGHT.rate_per_second * (window + TIGHT.max_wait_seconds)  # type: ignore[operator]
    granted = sum(g[0] for g in got)
    assert granted <= allowed, f"{granted} slots granted, the provider allows {allowed:.0f}"
    return {
        "granted": granted,
        "allowed_at_most": round(allowed),
        "window_seconds": round(window, 2),
        "reservation_calls": sum(g[1] for g in got),
    }


def measure(url: str, batch: int, batches: int) -> dict[str, float]:
    engine = make_engine(url)
    upgrade(engine)
    shared = SharedRateLimits(session_factory(engine))
    n = batch * 2
    figures = {
        "per_message_reserve_us": per_message_us(shared, WIDE, n),
        "batch_reserve_ms": per_batch_ms(shared, WIDE, batch, batches),
        "batch_reserve_per_chat_ms": per_batch_ms(shared, PER_CHAT, batch, batches),
    }
    engine.dispose()
    figures["batch_reserve_per_message_us"] = figures["batch_reserve_ms"] * 1e3 / batch
    figures["batch_reserve_per_chat_per_message_us"] = figures["batch_reserve_per_chat_ms"] * 1e3 / batch
    return {k: round(v, 1) for k, v in figures.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    memory = {
        "per_message_reserve_us": round(per_message_us(RateLimits(), WIDE, args.batch * 20), 2),
        "batch_reserve_per_chat_ms": round(per_batch_ms(RateLimits(), PER_CHAT, args.batch, args.batches), 2),
    }
    results: dict[str, Any] = {"batch": args.batch, "in_process": memory}
    with tempfile.TemporaryDirectory() as tmp:
        sqlite_url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        results["sqlite"] = measure(sqlite_url, args.batch, args.batches)
        results["sqlite"].update(contention(sqlite_url, args.processes, args.seconds, args.batch))
    with pg_database() as pg_url:
        results["postgresql"] = measure(pg_url, args.batch, args.batches)
        results["postgresql"].update(contention(pg_url, args.processes, args.seconds, args.batch))
    rows = [("in process: one reservation", f"{memory['per_message_reserve_us']} µs"),
            (f"in process: batch of {args.batch}, per chat", f"{memory['batch_reserve_per_chat_ms']} ms")]  # fmt: skip
    for db in ("sqlite", "postgresql"):
        r = results[db]
        rows += [
            (f"{db}: one reservation (one transaction)", f"{r['per_message_reserve_us']} µs"),
            (f"{db}: batch of {args.batch}, channel bucket",
             f"{r['batch_reserve_ms']} ms ({r['batch_reserve_per_message_us']} µs a message)"),
            (f"{db}: batch of {args.batch}, + a bucket per chat",
             f"{r['batch_reserve_per_chat_ms']} ms ({r['batch_reserve_per_chat_per_message_us']} µs a message)"),
            (f"{db}: {args.processes} processes, {args.seconds:g} s, 500/s + 50",
             f"granted {r['granted']} (at most {r['allowed_at_most']} in {r['window_seconds']} s),"
             f" {r['reservation_calls']} calls"),
        ]  # fmt: skip
    report("shared rate limits: cost of a reservation, and the limit under contention", rows)
    save("limits", results)


if __name__ == "__main__":
    main()
