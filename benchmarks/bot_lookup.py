"""Chatbot status lookups: replies per second and latency with many chats asking at once.

The real aiogram dispatcher polls the loopback fake Bot API (tests/fakes/telegram_bot_api.py); each of
`--chats` chats sends "MAHOSO 1234" at the same moment, `--rounds` times. Latency is from the update being
queued at the fake to the bot's sendMessage reaching it (getUpdates wait, handler, database, reply).

    .venv/bin/python -m benchmarks.bot_lookup [--chats 200] [--rounds 5] [--dossiers 2000] [--pg]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Any

from benchmarks.common import pg_database, report, save
from notifier.bot.runner import BotRuntime
from notifier.config import load_settings
from notifier.rules.clock import VN_TZ, FixedClock
from notifier.workflows.ingest import upsert
from notifier.workflows.service import Service
from tests.factories import dossier
from tests.fakes.telegram_bot_api import TOKEN, FakeBotAPI

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=VN_TZ)


def _code(i: int) -> str:
    return f"000.00.30.H26-261120-{i:04d}"


def _phone(i: int) -> str:
    return f"09{12000000 + i:08d}"


def _seed(service: Service, n: int) -> None:
    items = [dossier(_code(i), SoDienThoai=_phone(i), TrangThaiHoSo=(4, 6, 2)[i % 3]) for i in range(n)]
    with service.factory() as session, session.begin():
        report_ = upsert(session, items, NOW, source="bench")
    assert not report_.errors, report_.errors[:3]


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def _round(fake: FakeBotAPI, chats: list[int], dossiers: int, wrong_every: int) -> list[float]:
    before = {c: len(fake.sent(c)) for c in chats}
    pushed: dict[int, float] = {}
    for n, chat in enumerate(chats):
        i = (chat * 7919) % dossiers
        digits = _phone(i)[-4:] if not wrong_every or n % wrong_every else "0000"
        fake.message(chat, f"{_code(i)} {digits}")
        pushed[chat] = time.monotonic()
    await fake.wait_for(lambda: all(len(fake.sent(c)) > before[c] for c in chats), timeout=300)
    replies = {
        int(call.params["chat_id"]): call.at
        for call in fake.calls
        if call.method == "sendMessage" and call.at >= min(pushed.values())
    }
    return [replies[c] - pushed[c] for c in chats]


async def main(args: argparse.Namespace) -> dict[str, Any]:
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        url = (
            stack.enter_context(pg_database("notifier_bench_bot"))
            if args.pg
            else f"sqlite:///{tmp / 'bench.db'}"
        )
        async with FakeBotAPI(max_poll_wait=0.5) as fake:
            settings = load_settings(
                Path(__file__).parent.parent / "tests" / "empty.toml",
                database={"url": url},
                channels={"telegram": {"token": TOKEN, "base_url": fake.base_url}},
                # Every chat stays under the guard's limit: this measures answers, not the slow-down.
                bot={"failed_lookup_limit": 1000},
            )
            service = Service.build(settings, FixedClock(NOW))
            service.migrate()
            _seed(service, args.dossiers)
            runtime = BotRuntime.build(service)
            await runtime.start_polling(polling_timeout=10)
            chats = [10_000 + i for i in range(args.chats)]
            try:
                await _round(fake, chats[:5], args.dossiers, 0)  # warm-up: connections, compiled templates
                latencies: list[float] = []
                started = time.monotonic()
                for _ in range(args.rounds):
                    latencies += await _round(fake, chats, args.dossiers, args.wrong_every)
                elapsed = time.monotonic() - started
            finally:
                await runtime.stop()
                await service.aclose()
    figures = {
        "database": "postgresql" if args.pg else "sqlite",
        "chats": args.chats,
        "rounds": args.rounds,
        "lookups": len(latencies),
        "wrong_digits_share": round(1 / args.wrong_every, 3) if args.wrong_every else 0,
        "replies_per_second": round(len(latencies) / elapsed, 1),
        "latency_p50_ms": round(_pct(latencies, 50) * 1000, 1),
        "latency_p95_ms": round(_pct(latencies, 95) * 1000, 1),
        "latency_max_ms": round(max(latencies) * 1000, 1),
        "latency_mean_ms": round(statistics.fmean(latencies) * 1000, 1),
    }
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--dossiers", type=int, default=2000)
    parser.add_argument(
        "--wrong-every", type=int, default=5, help="every Nth lookup has wrong digits (0: none)"
    )
    parser.add_argument("--pg", action="store_true", help="PostgreSQL on 127.0.0.1 instead of SQLite")
    ns = parser.parse_args()
    result = asyncio.run(main(ns))
    report(
        f"chatbot lookups, {result['chats']} concurrent chats ({result['database']})",
        list((k, str(v)) for k, v in result.items()),
    )
    save(f"bot_lookup_{result['database']}_{result['chats']}_chats", result)
