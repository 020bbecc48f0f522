"""The monthly 766 report for a month of N dossiers on PostgreSQL: query time and each export.

    .venv/bin/python -m benchmarks.report_monthly [--dossiers 100000] [--runs 3]

Seeds October 2026 with N dossiers received over the month across 50 agencies and 200 procedures, with
their status events, apology slips (5 %), inter-agency steps (10 %, some late) and two sent messages per
dossier, then times `build_report` and the CSV, XLSX and HTML exports. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
from datetime import datetime

from sqlalchemy import text

from benchmarks.common import peak_rss_mb, pg_database, report, save, timed
from notifier.config import load_settings
from notifier.rules.clock import VN_TZ, FixedClock
from notifier.workflows import reports
from notifier.workflows.service import Service

NOW = datetime(2026, 11, 5, 10, 0, tzinfo=VN_TZ)

SEED = """
INSERT INTO agencies (code, name) SELECT 'AG' || g, 'Cơ quan ' || g FROM generate_series(1, 50) g;
INSERT INTO officers (code, name, agency_id, is_head, active)
  SELECT 'O' || g, 'Cán bộ ' || g, 1 + (g % 50), g <= 50, true FROM generate_series(1, 500) g;
INSERT INTO procedures (code, name) SELECT 'P' || g, 'Thủ tục ' || g FROM generate_series(1, 200) g;

-- received over October, due 3-17 days later: 60 % returned, 10 % resolved, 20 % open, 5 % paused, 5 % refused
INSERT INTO dossiers (code, procedure_id, agency_id, officer_id, applicant_name, applicant_kind, status,
                      status_changed_at, received_at, due_at, returned_at, fee_amount, fee_paid, payload_hash,
                      created_at, updated_at)
  SELECT 'HS-' || g, 1 + (g % 200), 1 + (g % 50),
         CASE WHEN g % 4 = 0 THEN NULL ELSE 51 + (g % 450) END,
         'Công dân ' || g, 1,
         (ARRAY[10, 10, 10, 10, 10, 10, 9, 4, 4, 2, 5, 3, 10, 10, 10, 10, 10, 10, 9, 4])[1 + (g % 20)],
         r, r, r + (3 + g % 15) * interval '1 day',
         CASE WHEN (ARRAY[10, 10, 10, 10, 10, 10, 9, 4, 4, 2, 5, 3, 10, 10, 10, 10, 10, 10, 9, 4])[1 + (g % 20)] = 10
              THEN r + (1 + g % 19) * interval '1 day' END,
         CASE WHEN g % 3 = 0 THEN 200000 END, g % 5 <> 0, 'x', r, r
  FROM (SELECT g, CAST(:oct AS timestamptz) + (g % 31) * interval '1 day'
                  + (g % 480) * interval '1 minute' AS r
        FROM generate_series(1, :n) g) s;

-- every dossier's first event, and the resolution event of those in 9/10
INSERT INTO dossier_events (dossier_id, from_status, to_status, occurred_at, recorded_at, source, pending)
  SELECT id, NULL, 2, received_at, received_at, 'bench', false FROM dossiers;
INSERT INTO dossier_events (dossier_id, from_status, to_status, occurred_at, recorded_at, source, pending)
  SELECT id, 2, status, COALESCE(returned_at, received_at + (2 + id % 12) * interval '1 day'),
         received_at, 'bench', false
  FROM dossiers WHERE status IN (4, 5, 9, 10);

-- 5 %: an apology moved the appointment by five days
INSERT INTO apology_counters (agency_id, year, last) SELECT id, 2026, 0 FROM agencies;
INSERT INTO apology_slips (agency_id, year, seq, number, dossier_id, dossier_code, agency_name, addressee,
                           applicant_kind, procedure_code, procedure_name, received_at, old_due_at, new_due_at,
                           reason, issued_at, issued_by, source)
  SELECT d.agency_id, 2026, row_number() OVER (PARTITION BY d.agency_id ORDER BY d.id),
         row_number() OVER (PARTITION BY d.agency_id ORDER BY d.id) || '/PXL', d.id, d.code, 'Cơ quan',
         d.applicant_name, 1, 'P', 'Thủ tục', d.received_at, d.due_at, d.due_at + interval '5 days',
         'Chờ ý kiến', d.due_at + interval '1 hour', 'bench', 'bench'
  FROM dossiers d WHERE d.id % 20 = 7;
UPDATE dossiers SET apology_old_due_at = due_at, apology_new_due_at = due_at + interval '5 days',
                    apology_set_at = due_at + interval '1 hour', due_at = due_at + interval '5 days'
  WHERE id % 20 = 7;

-- 10 %: two inter-agency steps, the first often late
INSERT INTO dossier_steps (dossier_id, unit, handler_name, started_at, deadline, finished_at, created_at,
                           updated_at)
  SELECT id, 'Phòng ' || (id % 30), 'Chuyên viên ' || (id % 90), received_at, received_at + interval '2 days',
         received_at + (1 + id % 4) * interval '1 day', received_at, received_at
  FROM dossiers WHERE id % 10 = 3;
INSERT INTO dossier_steps (dossier_id, unit, started_at, deadline, finished_at, created_at, updated_at)
  SELECT id, 'Văn phòng ' || (id % 7), received_at + interval '4 days', received_at + interval '6 days',
         NULL, received_at, received_at
  FROM dossiers WHERE id % 10 = 3;

-- two sent messages per dossier during the month
INSERT INTO notifications (dedupe_key, kind, audience, dossier_id, status, not_before, attempts, channel,
                           segments, created_at, sent_at, updated_at)
  SELECT 'b:' || d.id || ':' || k, CASE k WHEN 1 THEN 'received' ELSE 'returned' END, 'citizen', d.id, 'sent',
         d.received_at, 1, CASE WHEN d.id % 3 = 0 THEN 'zalo' ELSE 'sms' END,
         CASE WHEN d.id % 3 = 0 THEN NULL ELSE 1 + d.id % 3 END, d.received_at,
         LEAST(d.received_at + k * interval '2 days', CAST(:oct_last AS timestamptz)), d.received_at
  FROM dossiers d CROSS JOIN generate_series(1, 2) k;
ANALYZE;
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dossiers", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with pg_database("notifier_bench_report") as url:
        settings = load_settings(None, database={"url": url})
        service = Service.build(settings, FixedClock(NOW))
        service.migrate()
        (_, seed_s) = timed(lambda: _seed(service, args.dossiers))
        period = reports.month_period("2026-10")
        samples = []
        report_obj = None
        for _ in range(args.runs):
            with service.factory() as session:
                report_obj, took = timed(lambda s=session: reports.build_report(s, period, NOW))
            samples.append(took)
        assert report_obj is not None
        csv_text, csv_s = timed(lambda: reports.to_csv(report_obj))
        xlsx, xlsx_s = timed(lambda: reports.to_xlsx(report_obj))
        page, html_s = timed(lambda: reports.to_html(report_obj))
        t = report_obj.total
        figures = {
            "dossiers": args.dossiers,
            "seed_s": round(seed_s, 1),
            "report_median_s": round(statistics.median(samples), 3),
            "report_runs_s": [round(x, 3) for x in samples],
            "csv_s": round(csv_s, 3),
            "xlsx_s": round(xlsx_s, 3),
            "html_s": round(html_s, 3),
            "csv_kb": round(len(csv_text.encode()) / 1024),
            "xlsx_kb": round(len(xlsx) / 1024),
            "html_kb": round(len(page.encode()) / 1024),
            "rows": 1 + len(report_obj.agencies) + sum(len(b.procedures) for b in report_obj.agencies),
            "late_list_rows": len(report_obj.late),
            "received": t.received,
            "resolved": t.resolved,
            "on_time_pct": reports._pct(t.on_time_rate),
            "still_overdue": t.still_overdue,
            "apologies": t.apologies,
            "messages_sent": t.sent_total,
            "peak_rss_mb": round(peak_rss_mb()),
        }
        service.engine.dispose()
    report(
        f"monthly 766 report, {args.dossiers:,} dossiers in October on PostgreSQL",
        [(k, str(v)) for k, v in figures.items()],
    )
    save("report_monthly", figures)


def _seed(service: Service, n: int) -> None:
    with service.engine.begin() as conn:
        for statement in filter(None, (s.strip() for s in SEED.split(";"))):
            params = {
                "n": n,
                "oct": datetime(2026, 10, 1, 8, 0, tzinfo=VN_TZ),
                "oct_last": datetime(2026, 10, 31, 20, 0, tzinfo=VN_TZ),
            }
            conn.execute(text(statement), {k: v for k, v in params.items() if f":{k}" in statement})


if __name__ == "__main__":
    main()
