"""Zalo OA webhook acknowledgement: latency of `POST /webhooks/zalo_oa/inbound` at a steady event rate.

Zalo stops calling a webhook that answers slowly, so the route only checks the signature, stores the event
in the inbox and answers; this measures that answer. The real app runs under uvicorn on 127.0.0.1 in a
process of its own (the client's work must not share its interpreter lock); the client (plain keep-alive
HTTP/1.1 connections, light enough not to be what is measured) sends signed `user_send_text` events
open-loop at `--rate` per second (each at its planned time, whether or not earlier ones were answered), every tenth one a retry of
an earlier event (Zalo retries), and times each request from its planned start to the answer.

    .venv/bin/python -m benchmarks.zalo_webhook [--rate 200] [--seconds 10] [--sqlite]

Target (issue 13): p95 ≤ 50 ms at 200 events/s. PostgreSQL by default (the deployment's database).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import multiprocessing
import os
import socket
import statistics
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import uvicorn

from benchmarks.common import pg_database, report, save
from notifier.config import load_settings
from notifier.rules.clock import SystemClock
from notifier.store.models import ZaloInboxEvent
from notifier.web.api import create_app
from notifier.workflows.service import Service

APP_ID, OA_SECRET = "4321", "bench-oa-secret"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _event(i: int) -> tuple[bytes, dict[str, str]]:
    ts = str(int(time.time() * 1000))
    body = json.dumps(
        {
            "app_id": APP_ID,
            "event_name": "user_send_text",
            "sender": {"id": f"73010000000{i % 500:08d}"},
            "recipient": {"id": "oa-1"},
            "message": {"msg_id": f"bench-{i}", "text": "000.00.30.H26-261120-0001 5678"},
            "timestamp": ts,
        }
    ).encode()
    mac = hashlib.sha256(APP_ID.encode() + body + ts.encode() + OA_SECRET.encode()).hexdigest()
    return body, {"content-type": "application/json", "X-ZEvent-Signature": f"mac={mac}"}


def _serve(settings: Any, port: int) -> None:
    service = Service.build(settings, SystemClock())
    config = uvicorn.Config(
        create_app(service), host="127.0.0.1", port=port, log_level="warning", access_log=False
    )
    uvicorn.Server(config).run()


def _cpu_seconds(pid: int | None) -> float:
    """User + system CPU of the server process so far (Linux /proc): what one event costs, whatever else
    the machine is running."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait_for(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"the app did not start on port {port}")


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


class _Connections:
    """Keep-alive HTTP/1.1 connections to the app, written by hand: at 200 requests a second on a shared
    2-core machine, httpx's client spent more CPU than the app and its own lateness was what got measured
    (the app sat idle in epoll while requests were seconds behind their planned times)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        # A free connection, or a new one when all are busy (as Zalo's servers open more). One the server
        # closed while idle (uvicorn's keep-alive timeout) is replaced, as any HTTP client does.
        while self.idle:
            conn = self.idle.pop()
            try:
                return await self._send(conn, path, body, headers)
            except (OSError, asyncio.IncompleteReadError):
                conn[1].close()
        return await self._send(await asyncio.open_connection(self.host, self.port), path, body, headers)

    async def _send(
        self, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter], path: str, body: bytes, headers: dict[str, str]
    ) -> int:
        reader, writer = conn
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        writer.write(
            f"POST {path} HTTP/1.1\r\nhost: {self.host}\r\ncontent-length: {len(body)}\r\n{head}\r\n".encode()
            + body
        )
        status_line = await reader.readuntil(b"\r\n")
        length = 0
        while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        await reader.readexactly(length)
        self.idle.append(conn)
        return int(status_line.split()[1])

    def close(self) -> None:
        for _, writer in self.idle:
            writer.close()


async def _drive(url: str, rate: float, seconds: float) -> tuple[list[float], list[int]]:
    total = int(rate * seconds)
    bodies = [_event(i) for i in range(total)]
    # Every tenth call repeats an earlier event, as Zalo's retries do: stored once, answered the same.
    calls = [bodies[i - 5] if i % 10 == 9 and i >= 5 else bodies[i] for i in range(total)]
    latencies: list[float] = []
    statuses: list[int] = []
    host, port = url.removeprefix("http://").split(":")
    pool = _Connections(host, int(port))
    start = time.perf_counter() + 0.2

    async def one(i: int) -> None:
        planned = start + i / rate
        await asyncio.sleep(max(0.0, planned - time.perf_counter()))
        body, headers = calls[i]
        try:
            statuses.append(await asyncio.wait_for(pool.post(PATH, body, headers), 10))
        except (OSError, asyncio.IncompleteReadError, TimeoutError):
            statuses.append(0)  # no answer at all: counted, and its latency is what it waited
        latencies.append(time.perf_counter() - planned)

    # Warm a few connections and the app before the measured run.
    await asyncio.gather(*(pool.post(PATH, *_event(-1 - k)) for k in range(8)))
    cpu0 = time.process_time()
    await asyncio.gather(*(one(i) for i in range(total)))
    _client_cpu.append(time.process_time() - cpu0)
    pool.close()
    return latencies, statuses


PATH = "/webhooks/zalo_oa/inbound"
_client_cpu: list[float] = []  # the client's own CPU, reported so a starved client is seen


def run(rate: float, seconds: float, db_url: str, tmp: Path) -> dict[str, Any]:
    os.environ["BENCH_ZALO_SECRET"] = "app-secret"
    os.environ["BENCH_ZALO_OA_SECRET"] = OA_SECRET
    os.environ["BENCH_ZALO_REFRESH"] = "refresh"
    channels = {
        "zalo_oa": {
            "plugin": "zalo_oa",
            "app_id": APP_ID,
            "app_secret_env": "BENCH_ZALO_SECRET",
            "oa_secret_env": "BENCH_ZALO_OA_SECRET",
            "access_token_env": None,
            "refresh_token_env": "BENCH_ZALO_REFRESH",
        },
        "file": {"path": str(tmp / "outbox.jsonl")},
    }
    empty = tmp / "empty.toml"
    empty.write_text("")
    settings = load_settings(empty, database={"url": db_url}, channels=channels)
    service = Service.build(settings, SystemClock())
    service.migrate()
    service.engine.dispose()  # the server process opens its own connections
    port = _port()
    server = multiprocessing.get_context("fork").Process(target=_serve, args=(settings, port), daemon=True)
    server.start()
    _wait_for(port)
    try:
        cpu_before = _cpu_seconds(server.pid)
        latencies, statuses = asyncio.run(_drive(f"http://127.0.0.1:{port}", rate, seconds))
        cpu = _cpu_seconds(server.pid) - cpu_before
    finally:
        server.terminate()
        server.join(timeout=10)
    with service.factory() as session:
        stored = session.query(ZaloInboxEvent).count()
    service.engine.dispose()
    ms = [x * 1000 for x in latencies]
    return {
        "rate_per_second": rate,
        "events": len(ms),
        "stored": stored,
        "non_200": sum(1 for s in statuses if s != 200),  # 0: no answer (connection error)
        "non_200_statuses": sorted({s for s in statuses if s != 200}),
        "p50_ms": round(statistics.median(ms), 1),
        "p95_ms": round(_pct(ms, 95), 1),
        "p99_ms": round(_pct(ms, 99), 1),
        "max_ms": round(max(ms), 1),
        # CPU the app spent per event (signature, parse, insert, answer), threads included; the rate one
        # free core sustains is about 1000 / this.
        "server_cpu_ms_per_event": round(cpu * 1000 / len(ms), 2),
        "client_cpu_ms_per_event": round(_client_cpu[-1] * 1000 / len(ms), 2) if _client_cpu else None,
        "load_average_1min": round(os.getloadavg()[0], 1),
        "cpus": os.cpu_count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--sqlite", action="store_true", help="a SQLite file instead of PostgreSQL")
    args = parser.parse_args()
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        url = f"sqlite:///{tmp / 'bench.db'}" if args.sqlite else stack.enter_context(pg_database())
        figures = run(args.rate, args.seconds, url, tmp)
    figures["database"] = "sqlite" if args.sqlite else "postgresql"
    report("Zalo OA webhook acknowledgement", [(k, str(v)) for k, v in figures.items()])
    save(f"zalo_webhook_{figures['database']}", figures)


if __name__ == "__main__":
    main()
