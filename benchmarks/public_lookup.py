"""Public look-ups (issue 14): dossier code + last 4 digits of the phone, on PostgreSQL with 1M dossiers.

Mode (a), always: the look-up workflow the chatbot and the public page share
(`notifier.workflows.chat.BotStore.lookup`: the dossier, the throttles' counts, a miss recorded), called
directly, as a web handler calls it in its thread pool:
- sustained look-ups/s: `--workers` processes × `--threads` threads asking back to back for `--seconds`;
- latency at a fixed `--rate` (100/s): look-ups started open-loop at their planned times (whether or not
  earlier ones have finished), each timed from its planned start, p50/p95/p99.
Every `--wrong-every`th look-up has wrong digits (recorded as a miss, as an enumeration attempt would be);
the client addresses are spread over `--clients`, and the failures table starts with `--failures` recent
misses (a busy day's worth), so the throttles' counting and clean-up run on a table of realistic size.

Mode (b), with `--http BASE_URL` (a running app) or `--serve` (this script starts the app on the seeded
database as a deployment on this machine would: `--server-processes` (2, one per core) processes, each
the app under uvicorn with `notifier run`'s server settings, sharing one listening socket, as uvicorn's
`--workers` does): the page itself, `GET /tra-cuu` for the form (its cookie and hidden fields, a CSRF token
if it has one, are sent back), then `POST /tra-cuu` with `ma_ho_so` and `so_cuoi`: open-loop at `--rate`
for p95, then closed-loop with `--concurrency` clients for the maximum sustained rate. One look-up is one
POST, answered by the 303 to the dossier's page with its pass cookie (or the "not found" page, 200); the
redirect is not followed. The client runs in this script's process, apart from the app's; the CPU of the
client, of the app's processes and of PostgreSQL's processes serving them is reported per request, with
the connections opened on the database meanwhile. Skipped with a message when `/tra-cuu` answers 404.

The plans of the statements one look-up runs (EXPLAIN ANALYZE at the seeded size) are printed, so index use
can be checked.

    .venv/bin/python -m benchmarks.public_lookup [--dossiers 1000000] [--seconds 20] [--rate 100]
        [--workers 2] [--threads 4] [--db URL] [--http BASE_URL | --serve [--server-processes 2]]

Targets: ≥ 400 look-ups/s sustained; p95 ≤ 50 ms at 100 look-ups/s.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import re
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import psycopg

from benchmarks.common import pg_database, report, save
from benchmarks.harness import seed_notifications

ROOT = Path(__file__).resolve().parent.parent
TARGET_RATE = 400.0
TARGET_P95_MS = 50.0


# ------------------------------------------------------------------------------------------------- seeding


def _code(g: int) -> str:
    return f"HS-{g}"  # what benchmarks.harness.seed_notifications writes


def _digits(g: int) -> str:
    return f"{g:07d}"[-4:]  # its phones are '+8491' || lpad(g, 7, '0')


def _settings(db_url: str, tmp: Path) -> Any:
    from notifier.config import load_settings

    empty = tmp / "empty.toml"
    empty.write_text("", encoding="utf-8")
    return load_settings(
        empty, database={"url": db_url}, channels={"file": {"path": str(tmp / "outbox.jsonl")}}
    )


def seed(db_url: str, n: int, failures: int, tmp: Path) -> tuple[int, float]:
    """Migrate, then n dossiers (each with its `received` notice) written with set-based INSERT … SELECT
    (benchmarks.harness), and `failures` recent misses; returns the dossiers there and the seconds taken.
    A database that already holds dossiers is used as it is."""
    from notifier.workflows.service import Service

    start = time.perf_counter()
    service = Service.build(_settings(db_url, tmp))
    service.migrate()
    service.engine.dispose()
    with psycopg.connect(db_url) as conn:
        [have] = conn.execute("SELECT count(*) FROM dossiers").fetchone()  # type: ignore[misc]
    if have == 0:
        seed_notifications(db_url, n, queue=True)
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute(
                """INSERT INTO bot_lookup_failures (chat_id, at, code)
                   SELECT 'web:10.1.' || (g %% 250) || '.' || (g %% 199), now() - (g %% 80000) * interval '1 second',
                          'HS-' || (g * 7919 %% %s)
                   FROM generate_series(1, %s) g""",
                (max(n, 1), failures),
            )
            # One dossier in ten followed from a chat (Telegram ids), so the "is this chat linked" part of
            # the look-up reads a table of realistic size.
            conn.execute(
                """INSERT INTO chat_links (chat_id, dossier_id, source, active, consent_at, created_at, updated_at)
                   SELECT (700000000 + g)::text, g, 'lookup', true, now(), now(), now()
                   FROM generate_series(1, %s, 10) g""",
                (n,),
            )
            conn.execute("VACUUM ANALYZE")
        have = n
    return have, time.perf_counter() - start


# ------------------------------------------------------------------------------------- mode (a): workflow


def _store(db_url: str, tmp: Path) -> Any:
    from notifier.rules.clock import SystemClock
    from notifier.workflows.chat import BotStore, code_throttle_from, throttle_from
    from notifier.workflows.service import Service

    service = Service.build(_settings(db_url, tmp), SystemClock())
    bot = service.settings.bot
    return service, BotStore(service.factory, service.calendar, throttle_from(bot), code_throttle_from(bot))


class Asker:
    """One look-up at a time, as a citizen on the page asks: a random dossier, the right digits except every
    `wrong_every`th time, from one of `clients` addresses."""

    def __init__(self, n: int, wrong_every: int, clients: int, seed_value: int) -> None:
        self.n, self.wrong_every, self.clients = n, wrong_every, clients
        self.rng = random.Random(seed_value)
        self.count = 0

    def next(self) -> tuple[str, Any]:
        """(the client's key, the parsed query)."""
        from notifier.rules.lookup import parse_query

        self.count += 1
        g = self.rng.randint(1, self.n)
        wrong = self.wrong_every and self.count % self.wrong_every == 0
        digits = f"{(int(_digits(g)) + 1) % 10000:04d}" if wrong else _digits(g)
        query = parse_query(f"{_code(g)} {digits}")
        assert query is not None
        k = self.rng.randrange(self.clients)
        return f"web:10.0.{k // 256}.{k % 256}", query


def _closed_loop_worker(
    db_url: str, n: int, args: dict[str, Any], wid: int, go: Any, out: Any, release: Any
) -> None:  # a child process
    service, store = _store(db_url, Path(tempfile.mkdtemp()))
    outcomes: Counter[str] = Counter()
    latencies: list[float] = []
    lock = threading.Lock()

    def thread(tid: int) -> None:
        asker = Asker(n, args["wrong_every"], args["clients"], wid * 100 + tid)
        local: list[float] = []
        local_out: Counter[str] = Counter()
        for _ in range(20):  # warm-up: connections, compiled statements
            chat, query = asker.next()
            store.lookup(chat, query, service.clock.now())
        go.wait()
        deadline = time.monotonic() + args["seconds"]
        while time.monotonic() < deadline:
            chat, query = asker.next()
            t0 = time.perf_counter()
            result = store.lookup(chat, query, service.clock.now())
            local.append(time.perf_counter() - t0)
            local_out[result.outcome] += 1
        with lock:
            latencies.extend(local)
            outcomes.update(local_out)

    threads = [threading.Thread(target=thread, args=(t,)) for t in range(args["threads"])]
    for t in threads:
        t.start()
    go.wait()
    cpu0 = time.process_time()  # every thread of this process: the look-ups' CPU, the client's included
    for t in threads:
        t.join()
    cpu = time.process_time() - cpu0
    out.put((latencies, dict(outcomes), cpu))
    release.wait(60)  # the connections stay until the parent has read their server processes' CPU
    service.engine.dispose()


def sustained(db_url: str, n: int, args: argparse.Namespace) -> dict[str, Any]:
    """Look-ups/s with every worker asking back to back."""
    ctx = multiprocessing.get_context("fork")
    go, release, out = ctx.Event(), ctx.Event(), ctx.Queue()
    opts = {
        "wrong_every": args.wrong_every,
        "clients": args.clients,
        "seconds": args.seconds,
        "threads": args.threads,
    }
    procs = [
        ctx.Process(target=_closed_loop_worker, args=(db_url, n, opts, w, go, out, release))
        for w in range(args.workers)
    ]
    for p in procs:
        p.start()
    time.sleep(3)  # the workers connect and warm up
    load = os.getloadavg()[0]
    backends = _backends(db_url)
    pg_before = sum(_cpu_seconds(pid) for pid in backends)
    go.set()
    results = [out.get(timeout=args.seconds + 120) for _ in procs]
    pg_cpu = sum(_cpu_seconds(pid) for pid in backends) - pg_before
    release.set()
    for p in procs:
        p.join(30)
    latencies = [x for lat, _, _ in results for x in lat]
    outcomes: Counter[str] = Counter()
    for _, o, _ in results:
        outcomes.update(o)
    cpu = sum(c for _, _, c in results)
    ms = [x * 1000 for x in latencies]
    return {
        "workers": args.workers,
        "threads_per_worker": args.threads,
        "lookups": len(ms),
        "lookups_per_second": round(len(ms) / args.seconds, 1),
        "p50_ms": round(statistics.median(ms), 2),
        "p95_ms": round(_pct(ms, 95), 2),
        "outcomes": dict(outcomes),
        # Python CPU per look-up in the asking processes (SQLAlchemy, psycopg, the rules), PostgreSQL's not
        # included: with the machine to itself, one core does about 1000 / this look-ups per second.
        "python_cpu_ms_per_lookup": round(cpu * 1000 / max(len(ms), 1), 2),
        # CPU of the PostgreSQL server processes serving those connections, per look-up.
        "postgres_cpu_ms_per_lookup": round(pg_cpu * 1000 / max(len(ms), 1), 2),
        # What the two together would allow on this machine's cores were nothing else running on them (an
        # estimate from CPU time, not a measured rate).
        "estimated_lookups_per_second_on_idle_cores": round(
            (os.cpu_count() or 1) * 1000 / max((cpu + pg_cpu) * 1000 / max(len(ms), 1), 1e-6)
        ),
        "load_average_1min_before": round(load, 1),
    }


def _backends(db_url: str) -> list[int]:
    """The server processes of the workers' connections (this script's own connection left out)."""
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND backend_type = 'client backend'"
        ).fetchall()
    return [pid for (pid,) in rows]


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux /proc); 0 for one that is gone or not readable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fixed_rate(db_url: str, n: int, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """Latency at `--rate` look-ups/s, open-loop: each started at its planned time in a thread pool (the
    web server's), timed from that planned time, so a stall delays the ones behind it and is counted."""
    service, store = _store(db_url, tmp)
    asker = Asker(n, args.wrong_every, args.clients, 7)
    total = int(args.rate * args.seconds)
    planned_queries = [asker.next() for _ in range(total + 20)]
    latencies: list[float] = []
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()

    def one(i: int, planned: float) -> None:
        chat, query = planned_queries[i]
        result = store.lookup(chat, query, service.clock.now())
        with lock:
            latencies.append(time.perf_counter() - planned)
            outcomes[result.outcome] += 1

    with ThreadPoolExecutor(max_workers=args.threads * 2) as pool:
        for i in range(total, total + 20):  # warm-up
            pool.submit(one, i, time.perf_counter()).result()
        latencies.clear()
        outcomes.clear()
        start = time.perf_counter() + 0.1
        for i in range(total):
            planned = start + i / args.rate
            time.sleep(max(0.0, planned - time.perf_counter()))
            pool.submit(one, i, planned)
    service.engine.dispose()
    ms = [x * 1000 for x in latencies]
    return {
        "rate_per_second": args.rate,
        "lookups": len(ms),
        "p50_ms": round(statistics.median(ms), 2),
        "p95_ms": round(_pct(ms, 95), 2),
        "p99_ms": round(_pct(ms, 99), 2),
        "max_ms": round(max(ms), 1),
        "outcomes": dict(outcomes),
    }


@contextmanager
def _captured(engine: Any) -> Iterator[list[tuple[str, Any]]]:
    from sqlalchemy import event

    seen: list[tuple[str, Any]] = []

    def before(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)


def plans(db_url: str, n: int, tmp: Path) -> list[tuple[str, str]]:
    """EXPLAIN ANALYZE of each statement a right and a wrong look-up run (in a rolled-back transaction),
    at the seeded size."""
    service, store = _store(db_url, tmp)
    g = n // 2
    from notifier.rules.lookup import parse_query

    with _captured(service.engine) as seen:
        store.lookup("web:10.9.9.9", parse_query(f"{_code(g)} {_digits(g)}"), service.clock.now())  # type: ignore[arg-type]
        wrong = f"{(int(_digits(g)) + 1) % 10000:04d}"
        store.lookup("web:10.9.9.9", parse_query(f"{_code(g)} {wrong}"), service.clock.now())  # type: ignore[arg-type]
    service.engine.dispose()
    out: list[tuple[str, str]] = []
    with psycopg.connect(db_url) as conn:
        for statement, params in seen:
            if not statement.lstrip().upper().startswith(("SELECT", "INSERT", "DELETE", "UPDATE")):
                continue
            rows = conn.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING ON) " + statement, params).fetchall()
            conn.rollback()
            plan = "\n".join(r[0] for r in rows)
            first = re.sub(r"\s+", " ", statement.strip())[:90]
            out.append((first, plan))
    return out


# ---------------------------------------------------------------------------------------- mode (b): HTTP


_HIDDEN = re.compile(r"<input\b[^>]*>", re.I)
_ATTR = re.compile(r'(\w[\w-]*)\s*=\s*"([^"]*)"|(\w[\w-]*)\s*=\s*\'([^\']*)\'')


def _hidden_fields(page: str) -> dict[str, str]:
    """Hidden inputs of the look-up form (a CSRF token, whatever its name), to send back."""
    import html

    fields: dict[str, str] = {}
    for tag in _HIDDEN.findall(page):
        attrs = {(m[0] or m[2]).lower(): html.unescape(m[1] or m[3]) for m in _ATTR.findall(tag)}
        if attrs.get("type", "").lower() == "hidden" and attrs.get("name"):
            fields[attrs["name"]] = attrs.get("value", "")
    return fields


class PageClient:
    """One browser: its cookies, the form's hidden fields; the form fetched again when a post is refused
    as stale (400/403/419)."""

    def __init__(self, base: str) -> None:
        import httpx

        self.client = httpx.AsyncClient(base_url=base, timeout=10, follow_redirects=False)
        self.fields: dict[str, str] = {}

    async def form(self) -> int:
        resp = await self.client.get("/tra-cuu")
        if resp.status_code == 200:
            self.fields = _hidden_fields(resp.text)
        return resp.status_code

    async def ask(self, code: str, digits: str, address: str) -> int:
        import httpx

        headers = {"X-Forwarded-For": address}  # honoured only behind a trusted proxy; harmless otherwise
        for attempt in range(2):
            try:
                resp = await self.client.post(
                    "/tra-cuu", data={**self.fields, "ma_ho_so": code, "so_cuoi": digits}, headers=headers
                )
            except httpx.HTTPError:
                return 0
            if resp.status_code in (400, 403, 419) and attempt == 0:
                await self.form()
                continue
            return resp.status_code
        return 0

    async def aclose(self) -> None:
        await self.client.aclose()


async def _http(
    base: str, n: int, args: argparse.Namespace, servers: list[int], db_url: str | None
) -> dict[str, Any] | None:
    asker = Asker(n, args.wrong_every, args.clients, 11)
    clients = [PageClient(base) for _ in range(args.concurrency)]
    try:
        first = await clients[0].form()
        if first == 404:
            return None
        if first != 200:
            raise RuntimeError(f"GET {base}/tra-cuu answered {first}")
        await asyncio.gather(*(c.form() for c in clients[1:]))

        def query() -> tuple[str, str, str]:
            chat, q = asker.next()
            return q.code, q.digits or "", chat.removeprefix("web:")

        # Open-loop at the fixed rate, p95 from each request's planned time.
        total = int(args.rate * args.seconds)
        latencies: list[float] = []
        statuses: Counter[int] = Counter()
        start = time.perf_counter() + 0.2

        async def one(i: int) -> None:
            planned = start + i / args.rate
            await asyncio.sleep(max(0.0, planned - time.perf_counter()))
            status = await clients[i % len(clients)].ask(*query())
            statuses[status] += 1
            latencies.append(time.perf_counter() - planned)

        load = os.getloadavg()[0]
        cpu = _CpuMeter(servers, db_url)
        await asyncio.gather(*(one(i) for i in range(total)))
        fixed_cpu = cpu.per_request(len(latencies))
        ms = [x * 1000 for x in latencies]
        fixed = {
            "rate_per_second": args.rate,
            "requests": len(ms),
            "p50_ms": round(statistics.median(ms), 1),
            "p95_ms": round(_pct(ms, 95), 1),
            "p99_ms": round(_pct(ms, 99), 1),
            "statuses": dict(statuses),
            **fixed_cpu,
            "load_average_1min_before": round(load, 1),
        }
        # Closed-loop: every client posts back to back; the rate answered is the maximum sustained.
        done: Counter[int] = Counter()
        deadline = time.monotonic() + args.seconds

        async def loop(c: PageClient) -> None:
            while time.monotonic() < deadline:
                done[await c.ask(*query())] += 1

        load = os.getloadavg()[0]
        cpu = _CpuMeter(servers, db_url)
        t0 = time.perf_counter()
        await asyncio.gather(*(loop(c) for c in clients))
        elapsed = time.perf_counter() - t0
        return {
            **{f"fixed_{k}": v for k, v in fixed.items()},
            "server_processes": len(servers) or "external",
            "max_concurrency": args.concurrency,
            "max_requests_per_second": round(sum(done.values()) / elapsed, 1),
            "max_statuses": dict(done),
            **{f"max_{k}": v for k, v in cpu.per_request(sum(done.values())).items()},
            "max_load_average_1min_before": round(load, 1),
        }
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))


class _CpuMeter:
    """CPU used from now on by this process (the HTTP client), by the app's processes and by the
    PostgreSQL server processes of the app's connections, per request."""

    def __init__(self, servers: list[int], db_url: str | None) -> None:
        self.servers, self.db_url = servers, db_url
        self.client0 = time.process_time()
        self.server0 = sum(_cpu_seconds(pid) for pid in servers)
        self.pg0 = {pid: _cpu_seconds(pid) for pid in _backends(db_url)} if db_url else {}
        self.sessions0 = _sessions(db_url) if db_url else 0

    def per_request(self, requests: int) -> dict[str, float]:
        per = 1000 / max(requests, 1)
        client = time.process_time() - self.client0
        out = {"client_cpu_ms_per_request": round(client * per, 2)}
        if self.servers:
            server = sum(_cpu_seconds(pid) for pid in self.servers) - self.server0
            out["app_cpu_ms_per_request"] = round(server * per, 2)
        if self.db_url:
            # Connections opened meanwhile count from zero; one closed meanwhile is missed (pools keep theirs).
            pg = sum(_cpu_seconds(pid) - self.pg0.get(pid, 0.0) for pid in _backends(self.db_url))
            out["postgres_cpu_ms_per_request"] = round(pg * per, 2)
            # Connections opened on the database meanwhile (each starts a PostgreSQL process, whose CPU the
            # line above misses once it has ended): a pool that holds its connections opens none.
            out["postgres_connections_opened"] = _sessions(self.db_url) - self.sessions0
        return out


def _sessions(db_url: str) -> int:
    """Connections opened on the database so far (PostgreSQL ≥ 14), this script's own included."""
    with psycopg.connect(db_url) as conn:
        [n] = conn.execute(  # type: ignore[misc]
            "SELECT sessions FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
    return int(n)


def _serve(db_url: str, sock: socket.socket, tmp: str) -> None:  # a child process
    import uvicorn

    from notifier.rules.clock import SystemClock
    from notifier.web.api import create_app
    from notifier.workflows.service import Service

    service = Service.build(_settings(db_url, Path(tmp)), SystemClock())
    # The server settings of `notifier run` (jobs.processes): uvicorn's defaults at log level "warning".
    uvicorn.Server(uvicorn.Config(create_app(service), log_level="warning")).run(sockets=[sock])


@contextmanager
def served(db_url: str, tmp: Path, processes: int) -> Iterator[tuple[str, list[int]]]:
    """The app on a free port of 127.0.0.1, in `processes` processes of its own sharing one listening
    socket (as uvicorn's --workers or several `notifier run` behind one port would): its address and the
    processes' ids."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)
    port = int(sock.getsockname()[1])
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_serve, args=(db_url, sock, str(tmp)), daemon=True) for _ in range(processes)]
    for proc in procs:
        proc.start()
    sock.close()  # the children hold it
    try:
        import urllib.request

        deadline = time.monotonic() + 60
        while True:
            # The socket accepts connections before any process serves them: wait for an answer.
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/tra-cuu", timeout=5).close()
                break
            except OSError:
                if time.monotonic() > deadline or not all(p.is_alive() for p in procs):
                    raise RuntimeError("the app did not start") from None
                time.sleep(0.2)
        time.sleep(2)  # the other processes finish starting (they build the same app)
        yield f"http://127.0.0.1:{port}", [p.pid for p in procs if p.pid is not None]
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.join(10)


# -------------------------------------------------------------------------------------------------- main


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dossiers", type=int, default=1_000_000)
    parser.add_argument(
        "--failures", type=int, default=50_000, help="recent misses in the table at the start"
    )
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--rate", type=float, default=100, help="the fixed rate for the latency figures")
    parser.add_argument("--workers", type=int, default=2, help="processes asking back to back")
    parser.add_argument("--threads", type=int, default=4, help="threads per process (a web server's pool)")
    parser.add_argument(
        "--wrong-every", type=int, default=5, help="every Nth look-up has wrong digits (0: none)"
    )
    parser.add_argument("--clients", type=int, default=5000, help="client addresses the look-ups come from")
    parser.add_argument(
        "--db", help="an existing PostgreSQL database to use (seeded when it has no dossiers)"
    )
    parser.add_argument("--http", metavar="BASE_URL", help="also drive the page of the app at this address")
    parser.add_argument("--serve", action="store_true", help="also drive the page, starting the app itself")
    parser.add_argument("--concurrency", type=int, default=16, help="HTTP clients for the maximum rate")
    parser.add_argument(
        "--server-processes", type=int, default=2, help="with --serve: app processes (one per core)"
    )
    parser.add_argument("--skip-workflow", action="store_true", help="only the HTTP mode")
    args = parser.parse_args()

    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        db_url = args.db or stack.enter_context(pg_database("notifier_bench_public"))
        n, seconds = seed(db_url, args.dossiers, args.failures, tmp)
        print(f"{n:,} dossiers ready in {seconds:.0f} s", flush=True)
        figures: dict[str, Any] = {"dossiers": n, "seed_seconds": round(seconds, 1), "cpus": os.cpu_count()}

        for label, plan in plans(db_url, n, tmp):
            print(f"\n-- {label}\n{plan}")
            big_scan = re.search(r"Seq Scan on (dossiers|notifications)\b", plan)
            figures.setdefault("seq_scans_on_big_tables", []).extend([big_scan[1]] if big_scan else [])

        if not args.skip_workflow:
            fixed = fixed_rate(db_url, n, args, tmp)
            report(f"look-up workflow at {args.rate:g}/s, open-loop", [(k, str(v)) for k, v in fixed.items()])
            best = sustained(db_url, n, args)
            report("look-up workflow, sustained", [(k, str(v)) for k, v in best.items()])
            figures["workflow_fixed_rate"] = fixed
            figures["workflow_sustained"] = best
            figures["ratios"] = {
                "sustained_vs_target_400": round(best["lookups_per_second"] / TARGET_RATE, 2),
                "p95_vs_target_50ms": round(fixed["p95_ms"] / TARGET_P95_MS, 2),
            }
            report("against the targets", [(k, str(v)) for k, v in figures["ratios"].items()])

        if args.http or args.serve:
            if args.http:
                base, servers = args.http.rstrip("/"), []
            else:
                base, servers = stack.enter_context(served(db_url, tmp, args.server_processes))
            # The database's CPU is counted only for an app this script started on it.
            page = asyncio.run(_http(base, n, args, servers, None if args.http else db_url))
            if page is None:
                print(
                    f"\nHTTP mode skipped: {base}/tra-cuu answered 404 (the public page is not in this app yet)"
                )
                figures["page"] = "skipped: /tra-cuu answered 404"
            else:
                report(f"POST /tra-cuu at {base}", [(k, str(v)) for k, v in page.items()])
                figures["page"] = page
                figures.setdefault("ratios", {})["page_p95_vs_target_50ms"] = round(
                    page["fixed_p95_ms"] / TARGET_P95_MS, 2
                )
    save("public_lookup", figures)


if __name__ == "__main__":
    sys.exit(main())
