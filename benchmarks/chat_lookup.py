"""CPU per chatbot look-up through the Telegram adapter: the real aiogram dispatcher, the conversation
core, the store (SQLite in this process, or PostgreSQL) and the Bot's sendMessage to the fake Bot API.

The fake Bot API runs in a child process, so the figure is this process's CPU (all threads, the
store's included) divided by the look-ups: what one look-up costs the bot, not the fake. Updates are fed
one at a time as in webhook mode (`BotRuntime.feed`); every `--wrong-every`th has wrong digits.

    .venv/bin/python -m benchmarks.chat_lookup [--events 2000] [--dossiers 2000] [--pg] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import multiprocessing
import pstats
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


def _serve(port: multiprocessing.sharedctypes.Synchronized, stop: Any) -> None:  # type: ignore[name-defined]
    async def run() -> None:
        fake = FakeBotAPI()
        await fake.start()
        port.value = int(fake.base_url.rsplit(":", 1)[1])
        while not stop.is_set():
            await asyncio.sleep(0.2)
            fake.calls.clear()  # keep the child's memory flat
        await fake.stop()

    asyncio.run(run())


def _update(n: int, chat: int, text: str) -> dict[str, Any]:
    return {
        "update_id": n,
        "message": {
            "message_id": n,
            "date": 0,
            "chat": {"id": chat, "type": "private", "first_name": "Hương"},
            "from": {"id": chat, "is_bot": False, "first_name": "Hương"},
            "text": text,
        },
    }


async def _run(args: argparse.Namespace, url: str, base_url: str) -> dict[str, Any]:
    settings = load_settings(
        Path(__file__).parent.parent / "tests" / "empty.toml",
        database={"url": url},
        channels={"telegram": {"token": TOKEN, "base_url": base_url}},
        bot={"failed_lookup_limit": 1_000_000, "code_failed_lookup_limit": 1_000_000},
    )
    service = Service.build(settings, FixedClock(NOW))
    service.migrate()
    items = [
        dossier(_code(i), SoDienThoai=_phone(i), TrangThaiHoSo=(4, 6, 2)[i % 3]) for i in range(args.dossiers)
    ]
    with service.factory() as session, session.begin():
        assert not upsert(session, items, NOW, source="bench").errors
    runtime = BotRuntime.build(service)
    updates = []
    for n in range(args.events + 50):
        i = (n * 7919) % args.dossiers
        digits = "0000" if args.wrong_every and n % args.wrong_every == 0 else _phone(i)[-4:]
        updates.append(_update(n + 1, 10_000 + n % 500, f"{_code(i)} {digits}"))
    try:
        for u in updates[:50]:  # warm-up: connections, compiled templates and statements
            await runtime.feed(u)
        profiler = cProfile.Profile() if args.profile else None
        cpu0, wall0 = time.process_time(), time.perf_counter()
        if profiler:
            profiler.enable()
        for u in updates[50:]:
            await runtime.feed(u)
        if profiler:
            profiler.disable()
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    finally:
        await runtime.stop()
        await service.aclose()
    if profiler:
        stats = pstats.Stats(profiler)
        stats.sort_stats("cumulative").print_stats(40)
        stats.sort_stats("tottime").print_stats(25)
    return {
        "database": "postgresql" if args.pg else "sqlite",
        "events": args.events,
        "dossiers": args.dossiers,
        "wrong_digits_share": round(1 / args.wrong_every, 3) if args.wrong_every else 0,
        "cpu_ms_per_lookup": round(cpu / args.events * 1000, 3),
        "wall_ms_per_lookup": round(wall / args.events * 1000, 3),
    }


def main(args: argparse.Namespace) -> dict[str, Any]:
    port = multiprocessing.Value("i", 0)
    stop = multiprocessing.Event()
    child = multiprocessing.Process(target=_serve, args=(port, stop), daemon=True)
    child.start()
    try:
        while port.value == 0:
            time.sleep(0.05)
        with ExitStack() as stack:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            url = (
                stack.enter_context(pg_database("notifier_bench_chat"))
                if args.pg
                else f"sqlite:///{tmp / 'b.db'}"
            )
            return asyncio.run(_run(args, url, f"http://127.0.0.1:{port.value}"))
    finally:
        stop.set()
        child.join(5)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--dossiers", type=int, default=2000)
    parser.add_argument(
        "--wrong-every", type=int, default=5, help="every Nth look-up has wrong digits (0: none)"
    )
    parser.add_argument("--pg", action="store_true", help="PostgreSQL on 127.0.0.1 instead of SQLite")
    parser.add_argument("--profile", action="store_true", help="print where the CPU goes (cProfile)")
    ns = parser.parse_args()
    result = main(ns)
    report(
        f"chatbot look-up CPU per event, Telegram adapter ({result['database']})",
        [(k, str(v)) for k, v in result.items()],
    )
    if not ns.profile:
        save(f"chat_lookup_telegram_{result['database']}", result)
