"""Admin page timings: login (Argon2id), live preview round trip and its child processes, log search,
dashboard, CSV export.

    .venv/bin/python -m benchmarks.admin_pages [--notifications 20000]

Runs the real app in-process (Starlette's TestClient) on a SQLite file in a temporary directory, with the
demo province plus N extra notifications so the log and dashboard queries have something to chew on.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert, select

from notifier.rules.clock import FixedClock
from notifier.store.models import Dossier, Notification
from tests.browser.kit import build_service, client_for, csrf_of, login, populate
from tests.conftest import T0


def _timed(fn, runs: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


# The preview's child processes as under `notifier run`: the main module is the `notifier` console script,
# which imports jobs.cli, and which every child of the forkserver runs again (notifier.web.admin.isolated).
PREVIEW_CHILDREN = """\
import sys
from jobs.cli import app  # what the console script imports

if __name__ == "__main__":
    import time
    from pathlib import Path
    from notifier.web.admin.isolated import run_isolated

    status = Path("/proc/self/status")
    start = time.perf_counter()
    run_isolated(status.read_text, timeout=60)
    first = (time.perf_counter() - start) * 1000
    start = time.perf_counter()
    for _ in range(20):
        text = run_isolated(status.read_text, timeout=60)
    each = (time.perf_counter() - start) / 20 * 1000
    size = dict(line.split(":", 1) for line in text.splitlines() if line.startswith(("VmSize", "VmRSS")))
    print(f"preview child (console script): first {first:.0f} ms from a cold forkserver, then {each:.1f} ms a"
          f" child; a child's address space {size['VmSize'].strip()}, resident {size['VmRSS'].strip()}")
"""


def preview_children(tmp: Path) -> None:
    script = tmp / "notifier_script.py"
    script.write_text(PREVIEW_CHILDREN)
    subprocess.run([sys.executable, str(script)], check=True, timeout=300)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--notifications", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp())
    preview_children(tmp)
    province = build_service(f"sqlite:///{tmp / 'bench.db'}", tmp, FixedClock(T0))
    asyncio.run(populate(province))
    service = province.service
    now = service.clock.now()
    with service.factory() as session, session.begin():
        dossiers = list(session.scalars(select(Dossier.id)))
        rows = [
            {
                "dedupe_key": f"bench:{i}",
                "kind": "received",
                "audience": "citizen",
                "dossier_id": dossiers[i % len(dossiers)],
                "status": ("sent", "failed", "queued")[i % 3],
                "not_before": now,
                "attempts": 1,
                "channel": "scripted_sms",
                "recipient": "+84912000111",
                "created_at": now,
                "updated_at": now,
            }
            for i in range(args.notifications)
        ]
        session.execute(insert(Notification), rows)

    client = client_for(service)
    p50, p95 = _timed(lambda: (client.cookies.clear(), login(client, "quantri")), 10)
    print(f"login (Argon2id verify + session):   p50 {p50:7.1f} ms   p95 {p95:7.1f} ms")
    client = client_for(service, "quantri")
    token = csrf_of(client.get("/admin/templates/sms/received").text)
    body = "Hồ sơ {{ dossier.code }} của {{ recipient_name }} đã được {{ agency.name }} tiếp nhận."

    def preview() -> None:
        r = client.post(
            "/admin/templates/sms/received/preview", json={"body": body}, headers={"X-CSRF-Token": token}
        )
        assert r.status_code == 200

    for name, fn in (
        ("preview (validate + render + SMS)", preview),
        ("editor page", lambda: client.get("/admin/templates/sms/received")),
        (f"log page, {args.notifications} rows", lambda: client.get("/admin/log")),
        ("log search by phone", lambda: client.get("/admin/log", params={"phone": "0912000111"})),
        ("log search by code + status", lambda: client.get("/admin/log", params={"code": "x", "status": "failed"})),
        ("dashboard", lambda: client.get("/admin/")),
    ):
        p50, p95 = _timed(fn, args.runs)
        print(f"{name:36s} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms")
    start = time.perf_counter()
    size = len(client.get("/admin/log.csv").content)
    print(f"CSV export of all rows: {(time.perf_counter() - start) * 1000:.0f} ms, {size / 1e6:.1f} MB")
    service.engine.dispose()


if __name__ == "__main__":
    main()
