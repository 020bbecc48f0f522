"""A large CSV import through the real command (`notifier import`), in a child process whose peak memory
(ru_maxrss) is the figure: the file is streamed, so memory must not grow with the file (target: 300 MB for
1M rows). PostgreSQL by default (--sqlite for the embedded default).

    .venv/bin/python -m benchmarks.import_stream [--rows 1000000] [--sqlite]
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--sqlite", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        csv_path = tmp / "hoso.csv"
        write_csv(csv_path, args.rows)
        size_mb = csv_path.stat().st_size / 1e6
        if args.sqlite:
            done, seconds = run_import(f"sqlite:///{tmp}/n.db", tmp, csv_path)
        else:
            with pg_database() as url:
                done, seconds = run_import(url, tmp, csv_path)
    # the import is the largest child this process waited for (the upgrade is smaller)
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    figures = {"rows": args.rows, "database": "sqlite" if args.sqlite else "postgresql",
               "file_mb": round(size_mb, 1), "seconds": round(seconds, 1), "rows_per_second": round(args.rows / seconds),
               "peak_rss_mb": round(peak_mb, 1), "exit_code": done.returncode, "summary": done.stdout.strip()[-200:]}
    report(f"import of a {args.rows:,}-row CSV ({size_mb:.0f} MB) with `notifier import`", [
        ("database", figures["database"]),
        ("time", f"{seconds:.0f} s ({figures['rows_per_second']:,} rows/s)"),
        ("peak memory of the import process", f"{peak_mb:.0f} MB (target ≤ 300 MB for 1M rows)"),
        ("exit code", str(done.returncode)),
        ("summary", done.stdout.strip()[-200:] or done.stderr.strip()[-500:]),
    ])
    save(f"import_stream_{figures['database']}", figures)


if __name__ == "__main__":
    main()
