"""Priority lanes: how long a citizen's status notice waits while a large digest run is queued.

50,000 officer digests are queued (due a minute ago); then `received` notices become due at a steady rate
while 2 workers drain the outbox through the eSMS channel to a fixed-answer fake gateway (nginx when
installed, else the aiohttp fake). Each notice's queue-to-provider time is `sent_at - not_before` from its
row; the run stops when every notice is sent (digests may still be queued). Working hours are made all
day, so the digests are really sent whatever the time of the run (on a working day; on a day off they
are only deferred). The same run is repeated with
the lanes flattened (every row priority 1, i.e. the claim order of before: oldest first) for comparison.

    .venv/bin/python -m benchmarks.priority [--digests 50000] [--rate 20] [--seconds 20] [--workers 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import psycopg

from benchmarks.common import pg_database, report, save
from benchmarks.harness import spawn_worker, start_fixed_gateway, stop, wait_until, write_config
from notifier.config import load_settings
from notifier.rules.kinds import Lane
from notifier.workflows.service import Service

OFFICERS = 500


def seed(url: str, digests: int, notices: int, lanes: bool) -> int:
    """The outbox with its digest backlog; returns the lane the notices are to get."""
    Service.build(load_settings(None, database={"url": url})).migrate()
    digest_lane, notice_lane = (int(Lane.BULK), int(Lane.TRANSACTIONAL)) if lanes else (1, 1)
    with psycopg.connect(url) as conn:
        conn.execute("INSERT INTO agencies (code, name) VALUES ('AG1', 'Sở Tư pháp thành phố Hải Phòng')")
        conn.execute("INSERT INTO procedures (code, name) VALUES ('1.001233', 'Cấp Phiếu lý lịch tư pháp')")
        conn.execute("""
            INSERT INTO officers (code, name, agency_id, phone, is_head, active)
            SELECT 'CB' || g, 'Cán bộ ' || g, 1, '+8490' || lpad(g::text, 7, '0'), false, true
            FROM generate_series(1, %s) g""", (OFFICERS,))
        conn.execute("""
            INSERT INTO dossiers (code, procedure_id, agency_id, officer_id, applicant_name, applicant_kind,
                                  phone, status, status_changed_at, received_at, due_at, fee_paid, payload_hash,
                                  created_at, updated_at)
            SELECT 'HS-' || g, 1, 1, 1 + g %% %s, 'Công dân ' || g, 1, '+8491' || lpad(g::text, 7, '0'), 2,
                   now(), now(), now() + interval '10 days', false, 'x', now(), now()
            FROM generate_series(1, %s) g""", (OFFICERS, notices))
        conn.execute("""
            INSERT INTO notifications (dedupe_key, kind, audience, officer_id, payload, status, priority,
                                       not_before, attempts, created_at, updated_at)
            SELECT 'officer_digest:' || g, 'officer_digest', 'officer', 1 + g %% %s,
                   json_build_object('day', current_date, 'until', now() + interval '3 days')::text,
                   'queued', %s, now() - interval '1 minute', 0, now(), now()
            FROM generate_series(1, %s) g""", (OFFICERS, digest_lane, digests))
    return notice_lane


def feed(url: str, rate: int, seconds: float, lane: int) -> int:
    """Make `rate` notices a second due, one at a time, for `seconds`."""
    total = int(rate * seconds)
    start = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        for i in range(1, total + 1):
            conn.execute("""
                INSERT INTO notifications (dedupe_key, kind, audience, dossier_id, status, priority, not_before,
                                           attempts, created_at, updated_at)
                VALUES ('received:' || %s, 'received', 'citizen', %s, 'queued', %s, now(), 0, now(), now())""",
                (i, i, lane))
            ahead = start + i / rate - time.perf_counter()
            if ahead > 0:
                time.sleep(ahead)
    return total


def run(lanes: bool, args: argparse.Namespace, port: int, tmp: Path) -> dict[str, float]:
    notices = int(args.rate * args.seconds)
    with pg_database() as url:
        notice_lane = seed(url, args.digests, notices, lanes)
        name = "lanes" if lanes else "flat"
        config = write_config(tmp / f"{name}.toml", url, port, batch=200, concurrency=50)
        # Officers are paged in working hours only: make it working hours all day, or the digests would
        # only be deferred (claimed and put back), not sent, whenever the benchmark runs in the evening.
        with config.open("a", encoding="utf-8") as fh:
            fh.write('[working_hours]\nstart = "00:00:00"\nend = "23:59:59"\n')
        workers = [spawn_worker(config, tmp / f"{name}-{i}.log") for i in range(args.workers)]
        try:
            time.sleep(3)  # workers up and into the digests
            feed(url, args.rate, args.seconds, notice_lane)

            def notices_sent() -> bool:
                with psycopg.connect(url) as conn:
                    row = conn.execute(
                        "SELECT count(*) FROM notifications WHERE kind = 'received' AND status = 'sent'"
                    ).fetchone()
                return row is not None and row[0] == notices

            done = wait_until(notices_sent, timeout=args.timeout, step=0.2)
        finally:
            for w in workers:
                stop(w)
        with psycopg.connect(url) as conn:
            row = conn.execute("""
                SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY s), percentile_cont(0.95) WITHIN GROUP
                       (ORDER BY s), max(s), count(*)
                FROM (SELECT extract(epoch FROM sent_at - not_before)::float AS s FROM notifications
                      WHERE kind = 'received' AND status = 'sent') t""").fetchone()
            digests_left = conn.execute(
                "SELECT count(*) FROM notifications WHERE kind = 'officer_digest' AND status = 'queued'"
            ).fetchone()
        assert row is not None and digests_left is not None
        p50, p95, worst, sent = row
    return {"p50_s": float(p50 or 0), "p95_s": float(p95 or 0), "max_s": float(worst or 0),
            "notices": notices, "notices_sent": int(sent), "all_sent": float(done),
            "digests_still_queued": int(digests_left[0])}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--digests", type=int, default=50_000)
    parser.add_argument("--rate", type=int, default=20, help="citizen notices made due per second")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=900, help="give up waiting for the notices")
    parser.add_argument("--skip-flat", action="store_true", help="only the run with lanes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        gateway, port, fake = start_fixed_gateway(tmp)
        try:
            lanes = run(True, args, port, tmp)
            flat = None if args.skip_flat else run(False, args, port, tmp)
        finally:
            stop(gateway, hard=True)

    def line(r: dict[str, float]) -> str:
        return (f"p50 {r['p50_s']:.3f} s, p95 {r['p95_s']:.3f} s, max {r['max_s']:.3f} s "
                f"({r['notices_sent']}/{r['notices']} sent; {r['digests_still_queued']:,} digests still queued)")

    rows = [("fake gateway", fake), ("with lanes", line(lanes))]
    if flat:
        rows.append(("lanes flattened (oldest first)", line(flat)))
    report(f"queue-to-provider of citizen notices behind {args.digests:,} queued digests, "
           f"{args.rate}/s for {args.seconds:.0f} s, {args.workers} workers", rows)
    save("priority", {"digests": args.digests, "rate": args.rate, "seconds": args.seconds, "fake": fake,
                      **{f"lanes_{k}": round(v, 4) for k, v in lanes.items()},
                      **({f"flat_{k}": round(v, 4) for k, v in flat.items()} if flat else {})})


if __name__ == "__main__":
    main()
