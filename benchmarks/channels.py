"""Channel figures: SMS parts per kind with and without không dấu, and send throughput of each provider
plugin's real client against its loopback fake.

    .venv/bin/python -m benchmarks.channels [--sends 400] [--concurrency 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from datetime import datetime
from typing import Any

from notifier.channels.base import Channel, Message
from notifier.channels.registry import build
from notifier.rules.clock import VN_TZ, FixedClock
from notifier.rules.kinds import is_kind
from notifier.rules.rendering import load_template_files, render, sample_context
from notifier.rules.smsbudget import fit_sms
from tests.fakes.esms import FakeEsms
from tests.fakes.smtp import FakeSmtp
from tests.fakes.telegram import FakeTelegram
from tests.fakes.twilio import FakeTwilio
from tests.fakes.zalo import FakeZalo

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=VN_TZ)


def sms_economics() -> None:
    print("SMS parts per message, shipped sms templates rendered with sample data (citizen / business):")
    print(f"  {'kind':<22}{'diacritics':>12}{'không dấu':>12}{'auto, max 1':>13}")
    totals = [0, 0, 0]
    for tf in sorted(load_template_files(), key=lambda t: t.kind):
        if tf.channel_type != "sms" or not is_kind(tf.kind):
            continue
        row = [0, 0, 0]
        for applicant in ("citizen", "business"):
            context = sample_context(NOW, tf.kind, applicant_kind=applicant)
            text = render(tf.body, context, field="body", syntax=tf.syntax)
            row[0] += fit_sms(text).segments
            row[1] += fit_sms(text, mode=True).segments
            row[2] += fit_sms(text, mode="auto", max_segments=1).segments
        totals = [a + b for a, b in zip(totals, row, strict=True)]
        print(f"  {tf.kind:<22}{row[0] / 2:>12.1f}{row[1] / 2:>12.1f}{row[2] / 2:>13.1f}")
    saved = 1 - totals[1] / totals[0]
    print(f"  {'all kinds':<22}{totals[0]:>12}{totals[1]:>12}{totals[2]:>13}")
    print(f"  không dấu saves {saved:.0%} of the parts")


async def throughput(name: str, channel: Channel, make: Any, sends: int, concurrency: int) -> None:
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []

    async def one(i: int) -> None:
        async with gate:
            t = time.perf_counter()
            await channel.send(make(i))
            latencies.append(time.perf_counter() - t)

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(sends)))
    elapsed = time.perf_counter() - started
    await channel.aclose()
    q = statistics.quantiles(latencies, n=20)
    print(f"  {name:<12}{sends / elapsed:>10.0f}/s   p50 {q[9] * 1000:6.1f} ms   p95 {q[18] * 1000:6.1f} ms")


def sms(i: int) -> Message:
    text = "Ho so 000.00.30.H26-261120-0001 da duoc tiep nhan."
    return Message(i + 1, "received", "citizen", f"+8491{i:07d}", text)


async def channel_throughput(sends: int, concurrency: int) -> None:
    print(f"\nsend throughput, {sends} messages, {concurrency} in flight, real client -> loopback fake:")
    clock = FixedClock(NOW)
    twilio, esms, telegram = FakeTwilio(now=clock.now), FakeEsms(), FakeTelegram()
    zalo, smtp = FakeZalo(), FakeSmtp()
    for fake in (twilio, esms, telegram, zalo, smtp):
        await fake.start()
    os.environ.update(
        {
            "BENCH_TWILIO": twilio.auth_token,
            "BENCH_ESMS_KEY": esms.api_key,
            "BENCH_ESMS_SECRET": esms.secret_key,
            "BENCH_TG": telegram.token,
            "BENCH_ZALO_SECRET": zalo.app_secret,
            "BENCH_ZALO_ACCESS": zalo.access_token,
            "BENCH_ZALO_REFRESH": zalo.refresh_token,
        }
    )
    try:
        tw = build(
            "sms_twilio",
            {
                "account_sid": twilio.account_sid,
                "auth_token_env": "BENCH_TWILIO",
                "from_number": "+15005550006",
                "base_url": twilio.url,
            },
            clock,
        )
        await throughput("sms_twilio", tw, sms, sends, concurrency)
        es = build(
            "sms_esms",
            {
                "base_url": esms.url,
                "api_key_env": "BENCH_ESMS_KEY",
                "secret_key_env": "BENCH_ESMS_SECRET",
                "brandname": "UBND-HP",
            },
            clock,
        )
        await throughput("sms_esms", es, sms, sends, concurrency)
        tg = build("telegram", {"token_env": "BENCH_TG", "base_url": telegram.url}, clock)
        await throughput(
            "telegram",
            tg,
            lambda i: Message(i + 1, "due_soon", "officer", str(1000 + i), "Hồ sơ sắp đến hạn."),
            sends,
            concurrency,
        )
        kinds = {"received": {"template_id": "1", "params": {"ma_ho_so": "{{ dossier.code }}"}}}
        zl = build(
            "zalo_zns",
            {
                "base_url": zalo.url,
                "app_id": zalo.app_id,
                "app_secret_env": "BENCH_ZALO_SECRET",
                "access_token_env": "BENCH_ZALO_ACCESS",
                "refresh_token_env": "BENCH_ZALO_REFRESH",
                "kinds": kinds,
            },
            clock,
        )
        await throughput(
            "zalo_zns",
            zl,
            lambda i: Message(
                i + 1, "received", "citizen", f"+8491{i:07d}", "x", data={"ma_ho_so": f"HS-{i}"}
            ),
            sends,
            concurrency,
        )
        em = build(
            "email",
            {
                "host": "127.0.0.1",
                "port": smtp.port,
                "start_tls": False,
                "from_address": "thongbao@haiphong.gov.vn",
            },
            clock,
        )
        await throughput(
            "email",
            em,
            lambda i: Message(
                i + 1, "due_soon", "officer", f"cb{i}@example.vn", "Hồ sơ sắp đến hạn.", subject="Nhắc việc"
            ),
            sends,
            concurrency,
        )
    finally:
        for fake in (twilio, esms, telegram, zalo, smtp):
            await fake.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sends", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args()
    sms_economics()
    asyncio.run(channel_throughput(args.sends, args.concurrency))


if __name__ == "__main__":
    main()
