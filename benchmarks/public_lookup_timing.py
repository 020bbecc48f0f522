"""Does a failed look-up on the public page take the same time whether the dossier code exists (wrong
digits) or not (unknown code)? Both are answered with the same bytes; this measures their latency over
HTTP (the real app in this process, PostgreSQL), alternating the two kinds, each from its own client
address and each wrong guess on its own dossier, so no throttle engages.

    .venv/bin/python -m benchmarks.public_lookup_timing [--dossiers 2000] [--tries 1000]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from benchmarks.common import pg_database, report
from notifier.config import load_settings
from notifier.rules.clock import VN_TZ, FixedClock
from notifier.web.api import create_app
from notifier.workflows.ingest import upsert
from notifier.workflows.service import Service
from tests.factories import dossier

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=VN_TZ)
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _code(i: int) -> str:
    return f"000.00.30.H26-261120-{i:05d}"


class ClientFromHeader:
    """Sets the ASGI client address from `x-bench-client`, so each try counts for its own client."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            for name, value in scope["headers"]:
                if name == b"x-bench-client":
                    scope = {**scope, "client": (value.decode(), 40000)}
        await self.app(scope, receive, send)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dossiers", type=int, default=2000)
    parser.add_argument("--tries", type=int, default=1000)
    args = parser.parse_args()
    os.environ.setdefault("NOTIFIER_PUBLIC_LINK_SECRET", "benchmark-key")
    with pg_database() as url, tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(
            None, database={"url": url}, channels={"file": {"path": str(Path(tmp) / "o.jsonl")}}
        )
        service = Service.build(settings, FixedClock(NOW))
        service.migrate()
        items = [
            dossier(_code(i), SoDienThoai=f"09{12000000 + i:08d}") for i in range(args.dossiers)
        ]  # last four 0000-1999 (tries use 9999)
        with service.factory() as session, session.begin():
            upsert(session, items, NOW, source="bench")
        client = TestClient(ClientFromHeader(create_app(service)), base_url="http://127.0.0.1")
        page = client.get("/tra-cuu")
        token = CSRF.search(page.text)[1]  # type: ignore[index]
        times: dict[str, list[float]] = {"wrong_digits": [], "unknown_code": []}
        bodies: set[bytes] = set()
        for i in range(args.tries):
            kind = "wrong_digits" if i % 2 == 0 else "unknown_code"
            code = _code(i % args.dossiers) if kind == "wrong_digits" else _code(args.dossiers + i)
            address = f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}"
            data = {"ma_ho_so": code, "so_cuoi": "9999", "csrf_token": token}
            start = time.perf_counter()
            answer = client.post(
                "/tra-cuu", data=data, headers={"x-bench-client": address}, follow_redirects=False
            )
            times[kind].append((time.perf_counter() - start) * 1000)
            assert answer.status_code == 200, answer.status_code
            bodies.add(answer.content)
        service.engine.dispose()
    rows = [("tries", f"{args.tries} over {args.dossiers} dossiers, PostgreSQL")]
    for kind, values in times.items():
        rows.append((kind, f"median {statistics.median(values):.2f} ms, p95 {_pct(values, 0.95):.2f} ms"))
    ratio = statistics.median(times["unknown_code"]) / statistics.median(times["wrong_digits"])
    rows.append(("median ratio unknown/wrong", f"{ratio:.3f}"))
    rows.append(("distinct bodies", str(len(bodies))))
    if len(bodies) > 1 and os.environ.get("BENCH_DEBUG"):
        import difflib

        a, b = (x.decode().splitlines() for x in list(bodies)[:2])
        print("\n".join(difflib.unified_diff(a, b, lineterm="")))
    report("public look-up: wrong digits vs unknown code", rows)


if __name__ == "__main__":
    main()
