"""Fault injection on PostgreSQL: 3 worker processes, one killed with kill -9 and never restarted, and a
database outage (new connections refused, every open one terminated with pg_terminate_backend, again and
again) in the same run. Every notification ends sent exactly once, and the surviving workers came through
the outage by themselves. Scaled down for CI (NOTIFIER_FAULT_N, NOTIFIER_FAULT_OUTAGE_SECONDS raise it;
the full run is `python -m benchmarks.fault_injection`)."""

from __future__ import annotations

import os
from pathlib import Path

from benchmarks.harness import (
    counts,
    gateway_stats,
    outage,
    seed_notifications,
    spawn_worker,
    start_gateway,
    stop,
    wait_until,
    write_config,
)

N = int(os.environ.get("NOTIFIER_FAULT_N", "1500"))
# Longer than the 4 s lease below, so every lease held when the outage starts (the killed worker's, the
# survivors' batches in flight) runs out during it and those rows come back by reclaim; and some thirty
# 0.2 s dispatch ticks per worker fail in it, where the log must still say it once. 20 s (the full run's)
# proved nothing more here and cost 14 s.
OUTAGE_SECONDS = float(os.environ.get("NOTIFIER_FAULT_OUTAGE_SECONDS", "6"))


def test_kill_9_and_a_database_outage_lose_nothing_and_send_nothing_twice(
    pg_admin_url: str, pg_own_database: str, tmp_path: Path
) -> None:
    url = pg_own_database
    gateway, port = start_gateway(delay_ms=20)  # slow enough that the outage falls mid-run
    workers = []
    try:
        seed_notifications(url, N)
        config = write_config(tmp_path / "config.toml", url, port, batch=50, concurrency=10, lease_seconds=4)
        workers = [spawn_worker(config, tmp_path / f"worker{i}.log") for i in range(3)]
        assert wait_until(lambda: gateway_stats(port)["accepted"] >= N // 5, timeout=60), \
            (tmp_path / "worker0.log").read_text()[-2000:]
        stop(workers[0], hard=True)  # kill -9, mid-dispatch; nobody restarts it
        sent_before = gateway_stats(port)["accepted"]
        terminated = outage(pg_admin_url, url.rsplit("/", 1)[1], OUTAGE_SECONDS)
        alive_after_outage = [w.poll() is None for w in workers[1:]]
        assert wait_until(lambda: counts(url).get("sent", 0) == N, timeout=120), counts(url)
        final = counts(url)
        stats = gateway_stats(port)
        logs = [(tmp_path / f"worker{i}.log").read_text() for i in (1, 2)]
    finally:
        for w in workers:
            stop(w, hard=True)
        stop(gateway, hard=True)
    assert sent_before < N, "the outage must fall before the end of the run"
    assert terminated > 0, "the outage must cut connections the workers held"
    assert alive_after_outage == [True, True], logs
    assert final == {"sent": N}  # none lost, none stuck, none failed
    assert stats["accepted"] == N and stats["distinct"] == N
    assert stats["delivered_twice"] == 0
    for log in logs:  # one line when the outage starts and one when it ends, not one per failed run
        assert log.count("database unavailable") == 1, log[-3000:]
        assert log.count("database available again") == 1, log[-3000:]
    print(f"\nfault test: {N} notifications, {sent_before} delivered before the kill and a "
          f"{OUTAGE_SECONDS:.0f} s outage ({terminated} connections terminated); gateway saw "
          f"{stats['requests']} requests, {stats['repeated_request_ids']} repeated RequestIds, "
          f"delivered twice: {stats['delivered_twice']}")
