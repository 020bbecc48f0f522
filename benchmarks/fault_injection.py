"""The full fault-injection run: N notifications, 3 workers, one killed with kill -9 (never restarted) and a
database outage of --outage seconds (new connections refused, open ones terminated every 0.2 s).

    .venv/bin/python -m benchmarks.fault_injection [--notifications 20000] [--outage 20]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from benchmarks.common import PG_ADMIN, pg_database, report, save
from benchmarks.harness import (
    counts,
    gateway_stats,
    migrated_outbox,
    outage,
    spawn_worker,
    start_gateway,
    stop,
    wait_until,
    write_config,
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--notifications", type=int, default=20_000)
    parser.add_argument("--outage", type=float, default=20.0)
    args = parser.parse_args()
    n = args.notifications
    with tempfile.TemporaryDirectory() as tmp, pg_database() as url:
        migrated_outbox(url, n)
        gateway, port = start_gateway(delay_ms=20)
        config = write_config(Path(tmp) / "c.toml", url, port, batch=200, concurrency=50, lease_seconds=10)
        workers = [spawn_worker(config, Path(tmp) / f"w{i}.log") for i in range(3)]
        start = time.perf_counter()
        try:
            wait_until(lambda: gateway_stats(port)["accepted"] >= n // 5, timeout=3600)
            stop(workers[0], hard=True)
            sent_before = gateway_stats(port)["accepted"]
            terminated = outage(PG_ADMIN, url.rsplit("/", 1)[1], args.outage)
            alive = sum(w.poll() is None for w in workers[1:])
            finished = wait_until(lambda: counts(url).get("sent", 0) == n, timeout=3600, step=0.5)
            elapsed = time.perf_counter() - start
            final, stats = counts(url), gateway_stats(port)
        finally:
            for w in workers:
                stop(w, hard=True)
            stop(gateway, hard=True)
    figures = {
        "notifications": n, "outage_seconds": args.outage, "finished": finished, "seconds": round(elapsed, 1),
        "delivered_before_outage": sent_before, "connections_terminated": terminated,
        "workers_alive_after_outage": alive, "final_statuses": final, "gateway_requests": stats["requests"],
        "repeated_request_ids": stats["repeated_request_ids"], "delivered": stats["accepted"],
        "delivered_twice": stats["delivered_twice"], "lost": n - final.get("sent", 0),
    }
    report(f"fault injection: {n:,} notifications, 3 workers, kill -9 and a {args.outage:.0f} s outage", [
        ("delivered before the kill and outage", f"{sent_before:,}"),
        ("connections terminated", f"{terminated:,}"),
        ("workers alive after the outage (of 2)", str(alive)),
        ("all sent", f"{finished} in {elapsed:.0f} s"),
        ("lost", f"{figures['lost']:,} (target 0)"),
        ("replays refused by RequestId", f"{stats['repeated_request_ids']:,}"),
        ("delivered twice", f"{stats['delivered_twice']:,} (target 0)"),
    ])
    save("fault_injection", figures)


if __name__ == "__main__":
    main()
