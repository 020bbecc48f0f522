"""Run real notifier worker processes against the loopback fake gateway (crash test and benchmarks)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
SECRETS = {"ESMS_API_KEY": "bench-key", "ESMS_SECRET_KEY": "bench-secret"}


def start_gateway(delay_ms: float = 0) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.fake_gateway", "--delay-ms", str(delay_ms)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True, start_new_session=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("PORT "):
        proc.kill()
        raise RuntimeError(f"fake gateway did not start: {line!r}")
    return proc, int(line.split()[1])


NGINX_CONF = """
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/nginx-body;
  keepalive_requests 10000000;
  server {{
    listen 127.0.0.1:{port};
    location / {{
      default_type application/json;
      return 200 '{{"CodeResult":"100","SMSID":"nginx"}}';
    }}
  }}
}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_fixed_gateway(tmp: Path) -> tuple[subprocess.Popen[str], int, str]:
    """The cheapest fake that answers every send "accepted": nginx (Debian's nginx-light) when installed,
    so the fake costs almost nothing beside the sender; otherwise the aiohttp fake, which costs more and
    also checks RequestIds. Returns the process, its port and which fake it is."""
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if nginx is None:
        proc, port = start_gateway()
        return proc, port, "aiohttp fake (install nginx-light for a cheaper one)"
    port = free_port()
    conf = tmp / f"nginx-{port}.conf"
    conf.write_text(NGINX_CONF.format(tmp=tmp, port=port), encoding="utf-8")
    proc = subprocess.Popen([nginx, "-c", str(conf), "-p", str(tmp)], text=True, start_new_session=True)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port, "nginx, fixed answer"
        except OSError:
            time.sleep(0.05)
    stop(proc, hard=True)
    raise RuntimeError("nginx did not start: see " + str(tmp / "nginx-error.log"))


def gateway_stats(port: int) -> dict[str, int]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=10) as resp:
        return json.loads(resp.read())


def write_config(path: Path, db_url: str, port: int, *, batch: int = 200, concurrency: int = 50,
                 lease_seconds: int = 300) -> Path:
    path.write_text(f"""
[database]
url = "{db_url}"
[quiet_hours]
start = "00:00:00"
end = "00:00:00"
[dispatch]
interval_seconds = 0.2
batch_size = {batch}
concurrency = {concurrency}
lease_seconds = {lease_seconds}
max_attempts = 10
backoff_base_seconds = 1
[routing]
citizen = ["sms"]
officer = ["sms"]
head = ["sms"]
[channels.sms]
plugin = "sms_esms"
base_url = "http://127.0.0.1:{port}"
brandname = "HAIPHONG"
timeout_seconds = 30
""", encoding="utf-8")
    return path


def migrated_outbox(db_url: str, n: int, *, queue: bool = True) -> None:
    """A fresh database migrated, then seeded as `seed_notifications` does."""
    from notifier.config import load_settings
    from notifier.workflows.service import Service

    Service.build(load_settings(None, database={"url": db_url})).migrate()
    seed_notifications(db_url, n, queue=queue)


def seed_notifications(db_url: str, n: int, *, queue: bool = True) -> None:
    """n dossiers, each with one queued `received` notice (unless `queue` is false), written straight to
    the tables."""
    with psycopg.connect(db_url) as conn:
        conn.execute("INSERT INTO agencies (code, name) VALUES ('AG1', 'Sở Tư pháp thành phố Hải Phòng')")
        conn.execute("INSERT INTO procedures (code, name) VALUES ('1.008891', 'Cấp Thẻ công chứng viên')")
        conn.execute("""
            INSERT INTO dossiers (code, procedure_id, agency_id, applicant_name, applicant_kind, phone, status,
                                  status_changed_at, received_at, due_at, fee_paid, payload_hash, created_at,
                                  updated_at)
            SELECT 'HS-' || g, 1, 1, 'Công dân ' || g, 1, '+8491' || lpad(g::text, 7, '0'), 2,
                   now(), now(), now() + interval '10 days', false, 'x', now(), now()
            FROM generate_series(1, %s) g""", (n,))
        if not queue:
            return
        conn.execute("""
            INSERT INTO notifications (dedupe_key, kind, audience, dossier_id, status, not_before, attempts,
                                       created_at, updated_at)
            SELECT 'received:' || id, 'received', 'citizen', id, 'queued', now() - interval '1 minute', 0,
                   now(), now()
            FROM dossiers""")


def spawn_worker(config: Path, log: Path, command: tuple[str, ...] = ("worker",),
                 wrapper: tuple[str, ...] = ()) -> subprocess.Popen[bytes]:
    """`python -m jobs COMMAND` in a session of its own; `wrapper` goes before it (e.g. `("nohup",)`)."""
    env = {**os.environ, **SECRETS, "NOTIFIER_CONFIG": str(config)}
    env = {k: v for k, v in env.items() if not (k.startswith("NOTIFIER_") and k != "NOTIFIER_CONFIG")}
    with log.open("ab") as fh:
        return subprocess.Popen([*wrapper, sys.executable, "-m", "jobs", *command], cwd=ROOT, env=env,
                                stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)


def counts(db_url: str) -> dict[str, int]:
    with psycopg.connect(db_url) as conn:
        return dict(conn.execute("SELECT status, count(*) FROM notifications GROUP BY status").fetchall())


def wait_until(predicate, timeout: float, step: float = 0.2) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def signal_session(proc: subprocess.Popen, signum: int) -> None:  # type: ignore[type-arg]
    """Signal the process's own session (every process here is started in one), never ours."""
    assert os.getpgid(proc.pid) == proc.pid, "only processes started with start_new_session"
    os.killpg(proc.pid, signum)


def stop(proc: subprocess.Popen, hard: bool = False) -> None:  # type: ignore[type-arg]
    """SIGTERM (SIGKILL when `hard`, or after 15 s) to the process's session, and wait for it."""
    if proc.poll() is None:
        signal_session(proc, signal.SIGKILL if hard else signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            signal_session(proc, signal.SIGKILL)
            proc.wait()


def outage(admin_url: str, database: str, seconds: float) -> int:
    """A database outage of `seconds`: new connections refused, open ones terminated every 0.2 s. Returns
    how many connections were terminated."""
    terminated = 0
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
        try:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                rows = conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s"
                    " AND pid <> pg_backend_pid()",
                    (database,),
                ).fetchall()
                terminated += sum(1 for [ok] in rows if ok)
                time.sleep(0.2)
        finally:
            conn.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
    return terminated
