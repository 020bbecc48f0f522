"""Dispatch throughput and send latency, against a fixed-answer fake gateway, in one run.

Throughput: bare aiohttp and httpx send loops (the ceiling of each client on this machine), then notifier
with 1, 2 and 4 worker processes draining a PostgreSQL outbox, with ratios to the bare aiohttp loop.
Latency: rows become due at a sustained rate while 2 workers run; each message's due-to-accepted time is
`sent_at - not_before` as recorded on its row, reported as p50/p95.

    .venv/bin/python -m benchmarks.dispatch [--messages 20000] [--workers 1 2 4]
                                            [--rate 1000] [--seconds 20] [--latency-workers 2]

The fake is nginx when Debian's nginx-light is installed (it costs almost nothing), the aiohttp fake
otherwise; the report names which.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import threading
import time
from pathlib import Path

import aiohttp
import httpx
import psycopg

from benchmarks.common import pg_database, report, save
from benchmarks.fake_gateway import SEND_PATH
from benchmarks.harness import (
    counts,
    migrated_outbox,
    spawn_worker,
    start_fixed_gateway,
    stop,
    wait_until,
    write_config,
)
from notifier.channels.http import CONNECTIONS_PER_HOST

IN_FLIGHT = 50
TEXT = "Sở Tư pháp thành phố Hải Phòng: Hồ sơ 000.00.30.H26-261120-0001 đã được tiếp nhận."


def body(i: int) -> dict[str, str]:
    return {"ApiKey": "k", "SecretKey": "s", "Phone": f"091{i:07d}", "Content": TEXT, "Brandname": "HAIPHONG",
            "SmsType": "2", "IsUnicode": "1", "Sandbox": "0", "RequestId": f"bare-{i}"}


async def bare_aiohttp(port: int, messages: int) -> float:
    gate = asyncio.Semaphore(IN_FLIGHT)
    connector = aiohttp.TCPConnector(limit=CONNECTIONS_PER_HOST)
    async with aiohttp.ClientSession(f"http://127.0.0.1:{port}", connector=connector) as session:
        async def one(i: int) -> None:
            async with gate, session.post(SEND_PATH, json=body(i)) as r:
                await r.read()
                r.raise_for_status()
        start = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(messages)))
        return messages / (time.perf_counter() - start)


async def bare_httpx(port: int, messages: int) -> float:
    gate = asyncio.Semaphore(IN_FLIGHT)
    limits = httpx.Limits(max_connections=8, max_keepalive_connections=8)  # its best measured pool here
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits) as client:
        async def one(i: int) -> None:
            async with gate:
                (await client.post(SEND_PATH, json=body(i))).raise_for_status()
        start = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(messages)))
        return messages / (time.perf_counter() - start)


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU the processes have used so far (Linux /proc)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime in clock ticks
    return total / os.sysconf("SC_CLK_TCK")


def throughput(n_workers: int, messages: int, port: int, tmp: Path) -> tuple[float, float, float]:
    """msg/s from the workers' spawn (their start-up included, as measured before), from the first
    claim (the sending itself: the bare loops are timed likewise, after their client is made), and the
    workers' CPU milliseconds per message from the first claim on: the figure that least depends on what
    else the machine is running."""
    with pg_database() as url:
        migrated_outbox(url, messages)
        config = write_config(tmp / f"w{n_workers}.toml", url, port, batch=500, concurrency=IN_FLIGHT)
        start = time.perf_counter()
        workers = [spawn_worker(config, tmp / f"w{n_workers}-{i}.log") for i in range(n_workers)]
        try:
            assert wait_until(lambda: counts(url).get("queued", 0) < messages, timeout=120, step=0.01)
            first, cpu_first = time.perf_counter(), cpu_seconds([w.pid for w in workers])
            done = wait_until(lambda: counts(url).get("sent", 0) == messages, timeout=1800, step=0.05)
            end, cpu_end = time.perf_counter(), cpu_seconds([w.pid for w in workers])
            assert done, counts(url)
        finally:
            for w in workers:
                stop(w)
    return messages / (end - start), messages / (end - first), 1000 * (cpu_end - cpu_first) / messages


def feed(url: str, rate: int, seconds: float) -> int:
    """Make `rate` rows a second due, in 20 steps a second, for `seconds`; returns how many."""
    step, made = 1 / 20, 0
    per_step = max(1, rate // 20)
    total = int(rate * seconds)
    start = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        while made < total:
            n = min(per_step, total - made)
            conn.execute("""
                INSERT INTO notifications (dedupe_key, kind, audience, dossier_id, status, not_before,
                                           attempts, created_at, updated_at)
                SELECT 'received:' || id, 'received', 'citizen', id, 'queued', now(), 0, now(), now()
                FROM dossiers WHERE id > %s AND id <= %s""", (made, made + n))
            made += n
            ahead = start + (made / per_step) * step - time.perf_counter()
            if ahead > 0:
                time.sleep(ahead)
    return made


def latency(rate: int, seconds: float, n_workers: int, port: int, tmp: Path) -> dict[str, float]:
    total = int(rate * seconds)
    with pg_database() as url:
        migrated_outbox(url, total, queue=False)
        config = write_config(tmp / "latency.toml", url, port, batch=500, concurrency=IN_FLIGHT)
        workers = [spawn_worker(config, tmp / f"latency-{i}.log") for i in range(n_workers)]
        try:
            time.sleep(3)  # workers up and polling an empty outbox
            fed: list[float] = []
            feeder = threading.Thread(target=lambda: fed.append(feed(url, rate, seconds) / seconds))
            start = time.perf_counter()
            feeder.start()
            feeder.join()
            offered = total / (time.perf_counter() - start)
            assert wait_until(lambda: counts(url).get("sent", 0) == total, timeout=600, step=0.1), counts(url)
        finally:
            for w in workers:
                stop(w)
        with psycopg.connect(url) as conn:
            row = conn.execute("""
                SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY s), percentile_cont(0.95) WITHIN GROUP
                       (ORDER BY s), percentile_cont(0.99) WITHIN GROUP (ORDER BY s), max(s)
                FROM (SELECT extract(epoch FROM sent_at - not_before)::float AS s FROM notifications) t
            """).fetchone()
            assert row is not None
            p50, p95, p99, worst = (float(v) for v in row)
    return {"offered_msg_per_s": offered, "p50_s": p50, "p95_s": p95, "p99_s": p99, "max_s": worst}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--rate", type=int, default=1000, help="latency run: rows made due per second")
    parser.add_argument("--seconds", type=float, default=20, help="latency run: for how long")
    parser.add_argument("--latency-workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        gateway, port, fake = start_fixed_gateway(tmp)
        try:
            bare = asyncio.run(bare_aiohttp(port, args.messages))
            bare_hx = asyncio.run(bare_httpx(port, args.messages))
            rates = {w: throughput(w, args.messages, port, tmp) for w in args.workers}
            lat = latency(args.rate, args.seconds, args.latency_workers, port, tmp) if args.rate else None
        finally:
            stop(gateway, hard=True)
    best = max(rate for rate, _, _ in rates.values())
    best_sending = max(rate for _, rate, _ in rates.values())
    rows = [("fake gateway", fake),
            ("bare aiohttp loop", f"{bare:,.0f} msg/s  (1.00×)"),
            ("bare httpx loop", f"{bare_hx:,.0f} msg/s  ({bare_hx / bare:.2f}×)")]
    for w, (rate, sending, cpu_ms) in rates.items():
        rows.append((f"notifier, {w} worker(s)", f"{rate:,.0f} msg/s  ({rate / bare:.2f}× bare aiohttp)"))
        rows.append(("  from the first claim", f"{sending:,.0f} msg/s  ({sending / bare:.2f}× bare aiohttp), "
                                                f"workers' CPU {cpu_ms:.3f} ms/msg"))
    if lat:
        rows.append((f"due→accepted at {lat['offered_msg_per_s']:,.0f} msg/s, {args.latency_workers} workers",
                     f"p50 {lat['p50_s']:.3f} s, p95 {lat['p95_s']:.3f} s, p99 {lat['p99_s']:.3f} s, "
                     f"max {lat['max_s']:.3f} s"))
    report(f"dispatch of {args.messages:,} SMS (eSMS channel, PostgreSQL outbox)", rows)
    save("dispatch", {
        "messages": args.messages, "fake": fake, "bare_aiohttp_msg_per_s": round(bare),
        "bare_httpx_msg_per_s": round(bare_hx),
        **{f"workers_{w}_msg_per_s": round(r) for w, (r, _, _) in rates.items()},
        **{f"workers_{w}_vs_bare_aiohttp": round(r / bare, 3) for w, (r, _, _) in rates.items()},
        **{f"workers_{w}_from_first_claim_msg_per_s": round(s) for w, (_, s, _) in rates.items()},
        **{f"workers_{w}_cpu_ms_per_msg": round(c, 3) for w, (_, _, c) in rates.items()},
        "best_vs_bare_aiohttp": round(best / bare, 3),
        "best_from_first_claim_vs_bare_aiohttp": round(best_sending / bare, 3),
        **({f"latency_{k}": round(v, 4) for k, v in lat.items()} if lat else {}),
    })


if __name__ == "__main__":
    main()
