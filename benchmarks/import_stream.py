"""A large CSV import through the real command (`notifier import`), in a child process whose peak memory
(ru_maxrss) is the figure: the file is streamed, so memory must not grow with the file (target: 300 MB for
1M rows). PostgreSQL by default (--sqlite for the embedded default).

    .venv/bin/python -m benchmarks.import_stream [--rows 1000000] [--sqlite]
    .venv/bin/python -m benchmarks.import_stream --rows 1000000 --read-only

--read-only measures what of an import grows with the file, without the database: the file streamed,
every row validated in batches, the MaHoSo of every row remembered (to report duplicates). Storing adds a
bounded amount (one batch's statements and session), now that a batch is stored set-based.
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import pg_database, report, save

FIELDS = ["MaHoSo", "MaTTHC", "TenTTHC", "ChuHoSo", "LoaiDoiTuong", "SoDienThoai", "NgayTiepNhan", "NgayHenTra",
          "TrangThaiHoSo", "MaDonVi", "TenDonVi"]


def write_csv(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(FIELDS)
        for i in range(rows):
            w.writerow([f"000.00.30.H26-261120-{i:07d}", "1.001233", "Cấp Phiếu lý lịch tư pháp cho công dân",
                        f"Nguyễn Văn {i}", 1, f"091{i % 10_000_000:07d}", "20261120083000", "20261204170000",
                        2 + i % 3, f"AG{i % 40:02d}", f"Ủy ban nhân dân xã số {i % 40}"])


def run_import(url: str, tmp: Path, csv_path: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    (tmp / "config.toml").write_text(f'[database]\nurl = "{url}"\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOTIFIER_")}
    subprocess.run([sys.executable, "-m", "jobs", "db", "upgrade"], cwd=tmp, env=env, check=True,
                   capture_output=True)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "jobs", "import", str(csv_path), "--now", "2026-12-01T09:00"],
                          cwd=tmp, env=env, capture_output=True, text=True)
    return done, time.perf_counter() - start


def read_only(path: str) -> None:
    """The child process of --read-only: stream, validate and track duplicates as an import does."""
    import itertools

    from notifier.workflows.import_files import items
    from notifier.workflows.ingest import BATCH_ROWS, parse_items

    seen: dict[str, int] = {}
    rows, good, bad = iter(items(Path(path))), 0, 0
    row = 1
    while chunk := list(itertools.islice(rows, BATCH_ROWS)):
        ok, errors = parse_items(chunk, row)
        for n, item in ok:
            seen[item.MaHoSo] = n
        row, good, bad = row + len(chunk), good + len(ok), bad + len(errors)
    print(f"{good} valid, {bad} rejected, {len(seen)} distinct MaHoSo")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--sqlite", action="store_true")
    parser.add_argument("--read-only", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        read_only(args.child)
        return
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        csv_path = tmp / "hoso.csv"
        write_csv(csv_path, args.rows)
        size_mb = csv_path.stat().st_size / 1e6
        if args.read_only:
            start = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "benchmarks.import_stream", "--child", str(csv_path)],
                                  capture_output=True, text=True)
            seconds = time.perf_counter() - start
        elif args.sqlite:
            done, seconds = run_import(f"sqlite:///{tmp}/n.db", tmp, csv_path)
        else:
            with pg_database() as url:
                done, seconds = run_import(url, tmp, csv_path)
    # the import is the largest child this process waited for (the upgrade is smaller)
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    database = "none (read-only)" if args.read_only else "sqlite" if args.sqlite else "postgresql"
    figures = {"rows": args.rows, "database": database,
               "file_mb": round(size_mb, 1), "seconds": round(seconds, 1), "rows_per_second": round(args.rows / seconds),
               "peak_rss_mb": round(peak_mb, 1), "exit_code": done.returncode, "summary": done.stdout.strip()[-200:]}
    how = "streamed and validated without storing" if args.read_only else "imported with `notifier import`"
    report(f"a {args.rows:,}-row CSV ({size_mb:.0f} MB) {how}", [
        ("database", figures["database"]),
        ("time", f"{seconds:.0f} s ({figures['rows_per_second']:,} rows/s)"),
        ("peak memory of the import process", f"{peak_mb:.0f} MB (target ≤ 300 MB for 1M rows)"),
        ("exit code", str(done.returncode)),
        ("summary", done.stdout.strip()[-200:] or done.stderr.strip()[-500:]),
    ])
    save(f"import_stream_{'read_only' if args.read_only else database}", figures)


if __name__ == "__main__":
    main()
