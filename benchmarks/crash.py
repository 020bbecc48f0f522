"""The full crash test: queue N notifications, several workers, kill -9 one mid-dispatch, restart it.

    .venv/bin/python -m benchmarks.crash [--notifications 100000] [--workers 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from benchmarks.common import pg_database, report, save
from benchmarks.harness import (
    counts,
    gateway_stats,
    migrated_outbox,
    spawn_worker,
    start_gateway,
    stop,
    wait_until,
    write_config,
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--notifications", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=3)
    args = parser.parse_args()
    n = args.notifications
    with tempfile.TemporaryDirectory() as tmp, pg_database() as url:
        migrated_outbox(url, n)
        gateway, port = start_gateway(delay_ms=2)
        config = write_config(Path(tmp) / "c.toml", url, port, batch=200, concurrency=50, lease_seconds=10)
        workers = [spawn_worker(config, Path(tmp) / f"w{i}.log") for i in range(args.workers)]
        start = time.perf_counter()
        try:
            wait_until(lambda: gateway_stats(port)["accepted"] >= n // 3, timeout=3600)
            in_flight = counts(url).get("sending", 0)
            stop(workers[0], hard=True)
            workers[0] = spawn_worker(config, Path(tmp) / "w0-restarted.log")
            finished = wait_until(lambda: counts(url).get("sent", 0) == n, timeout=3600, step=0.5)
            elapsed = time.perf_counter() - start
            final, stats = counts(url), gateway_stats(port)
        finally:
            for w in workers:
                stop(w, hard=True)
            stop(gateway, hard=True)
    figures = {
        "notifications": n, "workers": args.workers, "finished": finished, "seconds": round(elapsed, 1),
        "in_flight_when_killed": in_flight, "final_statuses": final,
        "gateway_requests": stats["requests"], "repeated_request_ids": stats["repeated_request_ids"],
        "delivered": stats["accepted"], "delivered_twice": stats["delivered_twice"],
        "lost": n - final.get("sent", 0),
    }
    report(f"crash test: {n:,} notifications, {args.workers} workers, one killed with kill -9", [
        ("rows in flight when killed", f"{in_flight:,}"),
        ("all sent", f"{finished} in {elapsed:.0f} s"),
        ("lost", f"{figures['lost']:,} (target 0)"),
        ("requests the gateway saw", f"{stats['requests']:,}"),
        ("replays refused by RequestId", f"{stats['repeated_request_ids']:,}"),
        ("delivered twice", f"{stats['delivered_twice']:,} (target 0)"),
    ])
    save("crash", figures)


if __name__ == "__main__":
    main()
