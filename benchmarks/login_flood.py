"""`/healthz` during a login flood: many clients posting wrong passwords for random names at once.

    .venv/bin/python -m benchmarks.login_flood [--clients 40] [--seconds 10]

Starts the real app with uvicorn on 127.0.0.1 (SQLite in a temporary directory, real Argon2id cost), lets
`--clients` threads post logins with random names as fast as they are answered, and measures `/healthz`
from another client meanwhile. Prints the login answers by status and the /healthz median and p95;
asserts nothing. Every client comes from 127.0.0.1, so the per-address limit (30 per 15 min) soon answers
429 before hashing; `--per-address` raises it to see the hashing slots alone at work.
"""

from __future__ import annotations

import argparse
import collections
import re
import secrets
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn

from notifier.rules.clock import SystemClock
from notifier.web.api import create_app
from tests.conftest import migrated_service

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--per-address", type=int, default=30)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp())
    service = migrated_service(
        f"sqlite:///{tmp / 'n.db'}", tmp, SystemClock(),
        admin={"login_failures_per_address": args.per_address, "login_failures_overall": 10**6},
    )  # fmt: skip
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(service), log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    base = f"http://127.0.0.1:{port}"
    stop = time.monotonic() + args.seconds
    statuses: collections.Counter[int] = collections.Counter()
    lock = threading.Lock()

    def flood() -> None:
        with httpx.Client(base_url=base, timeout=60) as client:
            token = CSRF.search(client.get("/admin/login").text)
            assert token is not None
            while time.monotonic() < stop:
                form = {"username": secrets.token_hex(6), "password": "x" * 12, "csrf_token": token[1]}
                code = client.post("/admin/login", data=form).status_code
                with lock:
                    statuses[code] += 1

    workers = [threading.Thread(target=flood) for _ in range(args.clients)]
    for w in workers:
        w.start()
    samples: list[float] = []
    with httpx.Client(base_url=base, timeout=60) as probe:
        while time.monotonic() < stop:
            start = time.perf_counter()
            probe.get("/healthz")
            samples.append((time.perf_counter() - start) * 1000)
            time.sleep(0.05)
    for w in workers:
        w.join()
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()
    samples.sort()
    p95 = samples[int(len(samples) * 0.95) - 1]
    print(f"{args.clients} clients, {args.seconds:.0f} s: login answers {dict(statuses)}")
    print(f"/healthz: {len(samples)} probes, median {statistics.median(samples):.1f} ms, p95 {p95:.1f} ms")


if __name__ == "__main__":
    main()
