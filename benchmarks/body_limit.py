"""Request body limits under a real server: how much of an oversized upload is read, and what it costs.

    .venv/bin/python -m benchmarks.body_limit [--mib 1024]

Starts the real app with uvicorn on 127.0.0.1 (SQLite in a temporary directory, a Twilio channel that is
never called), streams a chunked body of `--mib` MiB to a webhook and to the dossier import, and prints
for each how many bytes the client got to send before the 413, the time to the answer, and the growth of
the process's peak memory. Also `/healthz` answered while the uploads are refused. Asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import resource
import select
import socket
import tempfile
import threading
import time
from pathlib import Path

import uvicorn

from notifier.rules.clock import FixedClock
from notifier.web.api import create_app
from tests.conftest import T0, migrated_service

CHUNK = b"x" * (1 << 20)
TWILIO = {
    "plugin": "sms_twilio", "account_sid": "AC1", "auth_token_env": "BENCH_TWILIO_TOKEN",
    "from_number": "+15005550006", "base_url": "http://127.0.0.1:9", "public_base_url": "https://n.example",
}  # fmt: skip


def upload(port: int, path: str, total: int) -> tuple[int, bytes, float]:
    start = time.perf_counter()
    sent = 0
    with socket.create_connection(("127.0.0.1", port)) as conn:
        conn.sendall(
            f"POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            "Authorization: Bearer none\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
        )
        chunk = b"%x\r\n" % len(CHUNK) + CHUNK + b"\r\n"
        while sent < total:
            if select.select([conn], [], [], 0)[0]:
                break
            try:
                conn.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(CHUNK)
        conn.settimeout(30)
        try:
            answer = conn.recv(200)
        except ConnectionResetError:
            answer = b""
    return sent, answer.split(b"\r\n", 1)[0], time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=1024)
    args = parser.parse_args()
    os.environ["BENCH_TWILIO_TOKEN"] = "token"
    tmp = Path(tempfile.mkdtemp())
    service = migrated_service(
        f"sqlite:///{tmp / 'n.db'}", tmp, FixedClock(T0), channels={"sms_twilio": TWILIO}
    )
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(service), log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    limits = service.settings.api
    try:
        for path, limit in (
            ("/webhooks/sms_twilio/receipt", limits.webhook_max_body_bytes),
            ("/api/v1/dossiers", limits.import_max_body_bytes),
        ):
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            sent, status, seconds = upload(port, path, args.mib << 20)
            grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak) / 1024
            print(
                f"{path}: limit {limit:,} B; body {args.mib} MiB; client sent {sent / 2**20:.0f} MiB before "
                f"'{status.decode()}' after {seconds:.2f} s; peak RSS grew {grown:.1f} MiB"
            )
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        service.engine.dispose()


if __name__ == "__main__":
    main()
