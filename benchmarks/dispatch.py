"""Dispatch throughput: 1, 2 and 4 worker processes to a loopback fake gateway, vs a bare send loop.

    .venv/bin/python -m benchmarks.dispatch [--messages 20000] [--workers 1 2 4]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import httpx

from benchmarks.common import pg_database, report, save
from benchmarks.fake_gateway import SEND_PATH
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
from notifier.channels.esms import POOL
from notifier.config import load_settings
from notifier.workflows.service import Service

CONCURRENCY = 50


def run_workers(n_workers: int, messages: int, tmp: Path) -> float:
    with pg_database() as url:
        Service.build(load_settings(None, database={"url": url})).migrate()
        seed_notifications(url, messages)
        gateway, port = start_gateway()
        config = write_config(tmp / f"w{n_workers}.toml", url, port, batch=500, concurrency=CONCURRENCY)
        start = time.perf_counter()
        workers = [spawn_worker(config, tmp / f"w{n_workers}-{i}.log") for i in range(n_workers)]
        try:
            done = wait_until(lambda: counts(url).get("sent", 0) == messages, timeout=1800, step=0.05)
            elapsed = time.perf_counter() - start
            assert done, counts(url)
            assert gateway_stats(port)["accepted"] == messages
        finally:
            for w in workers:
                stop(w)
            stop(gateway, hard=True)
    return messages / elapsed


async def bare_loop(messages: int) -> float:
    """What the same gateway takes from a plain httpx loop with the same concurrency and payload."""
    gateway, port = start_gateway()
    try:
        gate = asyncio.Semaphore(CONCURRENCY)
        text = "Sở Tư pháp thành phố Hải Phòng: Hồ sơ 000.00.30.H26-261120-0001 đã được tiếp nhận."
        limits = POOL  # the same pool settings the eSMS channel uses
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits) as client:
            async def one(i: int) -> None:
                async with gate:
                    r = await client.post(SEND_PATH, json={
                        "ApiKey": "k", "SecretKey": "s", "Phone": f"091{i:07d}", "Content": text,
                        "Brandname": "HAIPHONG", "SmsType": "2", "IsUnicode": "1", "RequestId": f"bare-{i}"})
                    r.raise_for_status()
            start = time.perf_counter()
            await asyncio.gather(*(one(i) for i in range(messages)))
            return messages / (time.perf_counter() - start)
    finally:
        stop(gateway, hard=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bare = asyncio.run(bare_loop(args.messages))
        rates = {w: run_workers(w, args.messages, Path(tmp)) for w in args.workers}
    rows = [("bare httpx loop, same gateway", f"{bare:,.0f} msg/s")]
    for w, rate in rates.items():
        rows.append((f"notifier, {w} worker(s)", f"{rate:,.0f} msg/s  ({rate / bare:.2f}× bare)"))
    report(f"dispatch of {args.messages:,} SMS to a loopback fake gateway (PostgreSQL outbox)", rows)
    save("dispatch", {"messages": args.messages, "bare_loop_msg_per_s": round(bare),
                      **{f"workers_{w}_msg_per_s": round(r) for w, r in rates.items()},
                      **{f"workers_{w}_vs_bare": round(r / bare, 3) for w, r in rates.items()}})


if __name__ == "__main__":
    main()
