"""Crash safety with real worker processes on PostgreSQL: kill -9 one mid-dispatch, restart it.

Every notification ends sent, none is lost, and the gateway never delivers one twice. Scaled down for CI
(NOTIFIER_CRASH_N raises it; the full 100k run is `python -m benchmarks.crash`).
"""

from __future__ import annotations

import os
from pathlib import Path

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

N = int(os.environ.get("NOTIFIER_CRASH_N", "3000"))


def test_kill_9_mid_dispatch_loses_nothing_and_sends_nothing_twice(pg_own_database: str, tmp_path: Path) -> None:
    url = pg_own_database
    gateway, port = start_gateway(delay_ms=2)
    workers = []
    try:
        seed_notifications(url, N)
        # a short lease so the killed worker's rows come back within the test
        config = write_config(tmp_path / "config.toml", url, port, batch=100, concurrency=20, lease_seconds=4)
        workers = [spawn_worker(config, tmp_path / f"worker{i}.log") for i in range(3)]
        assert wait_until(lambda: gateway_stats(port)["accepted"] >= N // 4, timeout=120), \
            (tmp_path / "worker0.log").read_text()[-2000:]
        in_flight_before = counts(url).get("sending", 0)
        stop(workers[0], hard=True)  # kill -9, mid-dispatch
        workers[0] = spawn_worker(config, tmp_path / "worker0-restarted.log")
        assert wait_until(lambda: counts(url).get("sent", 0) == N, timeout=300), counts(url)
        final = counts(url)
        stats = gateway_stats(port)
    finally:
        for w in workers:
            stop(w, hard=True)
        stop(gateway, hard=True)
    assert final == {"sent": N}  # none lost, none stuck, none failed
    assert stats["accepted"] == N and stats["distinct"] == N
    assert stats["delivered_twice"] == 0
    print(f"\ncrash test: {N} notifications, {in_flight_before} were being sent when a worker was killed; "
          f"gateway saw {stats['requests']} requests, {stats['repeated_request_ids']} repeated RequestIds "
          f"(refused as duplicates), delivered twice: {stats['delivered_twice']}")
