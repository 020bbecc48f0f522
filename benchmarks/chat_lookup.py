"""CPU per chatbot look-up through a chat adapter: Telegram (the real aiogram dispatcher, the conversation
core, the store (SQLite in this process, or PostgreSQL) and the Bot's sendMessage to the fake Bot API), or
with `--zalo` the Zalo OA inbox worker (claiming stored events, the follower's window, the chat state,
the core, the cs message to a fake OA API).

The fake Bot API runs in a child process, so the figure is this process's CPU (all threads, the
store's included) divided by the look-ups: what one look-up costs the bot, not the fake. Updates are fed
one at a time as in webhook mode (`BotRuntime.feed`); every `--wrong-every`th has wrong digits. Zalo's
events are stored first (the webhook's part, measured by benchmarks.zalo_webhook) and the inbox applies
them in its batches of 100, as the `notifier run` job does; the figure is that work per event.

    .venv/bin/python -m benchmarks.chat_lookup [--events 2000] [--dossiers 2000] [--pg] [--profile] [--zalo]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import multiprocessing
import os
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
from notifier.store.zalo import InboxRow
from notifier.workflows.ingest import upsert
from notifier.workflows.service import Service
from notifier.workflows.zalo_oa import ZaloOaInbox, accept_events
from tests.factories import dossier
from tests.fakes.telegram_bot_api import TOKEN, FakeBotAPI
from tests.fakes.zalo import FakeZaloOa

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=VN_TZ)


def _code(i: int) -> str:
    return f"000.00.30.H26-261120-{i:04d}"


def _phone(i: int) -> str:
    return f"09{12000000 + i:08d}"


def _serve(port: multiprocessing.sharedctypes.Synchronized, stop: Any, zalo: bool = False) -> None:  # type: ignore[name-defined]
    async def run() -> None:
        fake: FakeBotAPI | FakeZaloOa = FakeZaloOa() if zalo else FakeBotAPI()
        await fake.start()
        base = fake.url if isinstance(fake, FakeZaloOa) else fake.base_url
        port.value = int(base.rsplit(":", 1)[1])
        while not stop.is_set():
            await asyncio.sleep(0.2)
            if isinstance(fake, FakeZaloOa):
                fake.cs.clear()  # keep the child's memory flat
            else:
                fake.calls.clear()
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


def _service(args: argparse.Namespace, url: str, channels: dict[str, Any]) -> Service:
    settings = load_settings(
        Path(__file__).parent.parent / "tests" / "empty.toml",
        database={"url": url},
        channels=channels,
        bot={"failed_lookup_limit": 1_000_000, "code_failed_lookup_limit": 1_000_000},
    )
    service = Service.build(settings, FixedClock(NOW))
    service.migrate()
    items = [
        dossier(_code(i), SoDienThoai=_phone(i), TrangThaiHoSo=(4, 6, 2)[i % 3]) for i in range(args.dossiers)
    ]
    with service.factory() as session, session.begin():
        assert not upsert(session, items, NOW, source="bench").errors
    return service


def _texts(args: argparse.Namespace) -> list[str]:
    texts = []
    for n in range(args.events + 50):
        i = (n * 7919) % args.dossiers
        digits = "0000" if args.wrong_every and n % args.wrong_every == 0 else _phone(i)[-4:]
        texts.append(f"{_code(i)} {digits}")
    return texts


async def _run_zalo(args: argparse.Namespace, url: str, base_url: str) -> dict[str, Any]:
    fake = FakeZaloOa()  # the child's has the same secrets (dataclass defaults)
    os.environ.update({"BENCH_ZALO_SECRET": fake.app_secret, "BENCH_ZALO_OA": "bench-oa-secret",
                       "BENCH_ZALO_REFRESH": fake.refresh_token})  # fmt: skip
    table = {
        "plugin": "zalo_oa", "base_url": base_url, "oauth_url": f"{base_url}/v4/oa/access_token",
        "app_id": "4321", "app_secret_env": "BENCH_ZALO_SECRET", "oa_secret_env": "BENCH_ZALO_OA",
        "access_token_env": None, "refresh_token_env": "BENCH_ZALO_REFRESH",
    }  # fmt: skip
    service = _service(args, url, {"zalo_oa": table})
    inbox = ZaloOaInbox(service, "zalo_oa")
    rows = []
    for n, text in enumerate(_texts(args)):
        user = f"7301{n % 500:08d}"
        body = {"app_id": "4321", "event_name": "user_send_text", "sender": {"id": user},
                "recipient": {"id": "oa-1"}, "message": {"msg_id": f"m{n}", "text": text},
                "timestamp": str(int(NOW.timestamp() * 1000))}  # fmt: skip
        rows.append(InboxRow(f"m{n}", "user_send_text", user, NOW, json.dumps(body, ensure_ascii=False)))
    try:
        accept_events(service, "zalo_oa", rows[:50])  # warm-up
        await inbox.process()
        accept_events(service, "zalo_oa", rows[50:])
        profiler = cProfile.Profile() if args.profile else None
        cpu0, wall0 = time.process_time(), time.perf_counter()
        if profiler:
            profiler.enable()
        done = 0
        while done < args.events:
            stats = await inbox.process()
            assert stats.processed and not stats.failed and not stats.reply_failures, stats
            done += stats.processed
        if profiler:
            profiler.disable()
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    finally:
        await service.aclose()
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
    return _result(args, "zalo_oa", cpu, wall)


def _result(args: argparse.Namespace, platform: str, cpu: float, wall: float) -> dict[str, Any]:
    return {
        "adapter": platform,
        "database": "postgresql" if args.pg else "sqlite",
        "events": args.events,
        "dossiers": args.dossiers,
        "wrong_digits_share": round(1 / args.wrong_every, 3) if args.wrong_every else 0,
        "cpu_ms_per_lookup": round(cpu / args.events * 1000, 3),
        "wall_ms_per_lookup": round(wall / args.events * 1000, 3),
        "load_average_1min": round(os.getloadavg()[0], 1),
    }


async def _run(args: argparse.Namespace, url: str, base_url: str) -> dict[str, Any]:
    service = _service(args, url, {"telegram": {"token": TOKEN, "base_url": base_url}})
    runtime = BotRuntime.build(service)
    updates = [_update(n + 1, 10_000 + n % 500, text) for n, text in enumerate(_texts(args))]
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
    return _result(args, "telegram", cpu, wall)


def main(args: argparse.Namespace) -> dict[str, Any]:
    port = multiprocessing.Value("i", 0)
    stop = multiprocessing.Event()
    child = multiprocessing.Process(target=_serve, args=(port, stop, args.zalo), daemon=True)
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
            run = _run_zalo if args.zalo else _run
            return asyncio.run(run(args, url, f"http://127.0.0.1:{port.value}"))
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
    parser.add_argument("--zalo", action="store_true", help="the Zalo OA adapter instead of Telegram")
    ns = parser.parse_args()
    result = main(ns)
    report(
        f"chatbot look-up CPU per event, {result['adapter']} adapter ({result['database']})",
        [(k, str(v)) for k, v in result.items()],
    )
    if not ns.profile:
        save(f"chat_lookup_{result['adapter']}_{result['database']}", result)
