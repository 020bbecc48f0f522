"""Spend caps under load: what the per-agency check costs, and whether workers racing keep to the budget.

Three runs of the same outbox (one agency, `received` notices by eSMS priced 800 đồng a part, against the
fixed-answer fake gateway), each drained by worker processes on PostgreSQL:

- caps off (no [spend]);
- a budget never reached (every batch takes the agency's row lock and holds its estimates);
- a budget that runs out halfway, `on_cap = "wait"`: the rest stay queued; the spend recorded must not be
  above the budget (citizen messages never pass it on the checked channel), and the gap left is less than
  one message.

    .venv/bin/python -m benchmarks.spend [--messages 5000] [--workers 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import psycopg

from benchmarks.common import pg_database, report, save
from benchmarks.harness import (
    counts,
    migrated_outbox,
    spawn_worker,
    start_fixed_gateway,
    stop,
    wait_until,
    write_config,
)

PRICE = 800


def _config(path: Path, url: str, port: int, budget: int | None) -> Path:
    write_config(path, url, port, batch=500, concurrency=50)
    text = path.read_text(encoding="utf-8") + f"price_vnd = {PRICE}\n"  # the last table is [channels.sms]
    if budget is not None:
        text += f'[spend]\non_cap = "wait"\nbudgets = {{ sms = {budget} }}\n'
    path.write_text(text, encoding="utf-8")
    return path


def _spend(url: str) -> tuple[int, int, int]:
    """(sent, waiting for budget, cost of what was sent)."""
    with psycopg.connect(url) as conn:
        row = conn.execute("""
            SELECT count(*) FILTER (WHERE status = 'sent'),
                   count(*) FILTER (WHERE status = 'queued' AND error LIKE 'chờ ngân sách%%'),
                   coalesce(sum(cost_vnd) FILTER (WHERE status = 'sent'), 0)
            FROM notifications""").fetchone()
        assert row is not None
        return int(row[0]), int(row[1]), int(row[2])


def run(messages: int, workers: int, port: int, tmp: Path, budget: int | None, name: str) -> dict[str, float]:
    with pg_database() as url:
        migrated_outbox(url, messages)
        config = _config(tmp / f"{name}.toml", url, port, budget)
        start = time.perf_counter()
        procs = [spawn_worker(config, tmp / f"{name}-{i}.log") for i in range(workers)]
        try:
            def settled() -> bool:
                sent, waiting, _ = _spend(url)
                return sent + waiting == messages and counts(url).get("sending", 0) == 0

            assert wait_until(settled, timeout=1800, step=0.05), counts(url)
            elapsed = time.perf_counter() - start
        finally:
            for p in procs:
                stop(p)
        sent, waiting, cost = _spend(url)
        with psycopg.connect(url) as conn:
            biggest = conn.execute("SELECT coalesce(max(cost_vnd), 0) FROM notifications").fetchone()
        assert biggest is not None
    out: dict[str, float] = {"sent": sent, "waiting": waiting, "spent_vnd": cost, "msg_per_s": sent / elapsed}
    if budget is not None:
        assert cost <= budget, f"spend {cost} passed the budget {budget}"
        if waiting:
            assert budget - cost < int(biggest[0]), (budget, cost, biggest)
        out["budget_vnd"] = budget
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    n, w = args.messages, args.workers
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        gateway, port, fake = start_fixed_gateway(tmp)
        try:
            off = run(n, w, port, tmp, None, "off")
            # Messages are one or two parts: 10 parts each is a budget never reached.
            never = run(n, w, port, tmp, n * PRICE * 10, "never")
            half = run(n, w, port, tmp, int(off["spent_vnd"]) // 2, "half")
        finally:
            stop(gateway, hard=True)
    rows = [
        ("fake gateway", fake),
        (f"caps off, {w} workers", f"{off['msg_per_s']:,.0f} msg/s"),
        (
            f"budget never reached, {w} workers",
            f"{never['msg_per_s']:,.0f} msg/s ({never['msg_per_s'] / off['msg_per_s']:.2f}× caps off)",
        ),
        (
            f"budget spent halfway (wait), {w} workers",
            f"{half['sent']:,.0f} sent, {half['waiting']:,.0f} waiting; spent {half['spent_vnd']:,.0f} of "
            f"{half['budget_vnd']:,.0f} đồng",
        ),
    ]
    report(f"spend caps: {n:,} SMS of one agency (eSMS, PostgreSQL)", rows)
    save("spend", {
        "messages": n, "workers": w, "fake": fake,
        "caps_off_msg_per_s": round(off["msg_per_s"]),
        "budget_never_reached_msg_per_s": round(never["msg_per_s"]),
        "ratio_vs_caps_off": round(never["msg_per_s"] / off["msg_per_s"], 3),
        "halfway_budget_vnd": half["budget_vnd"], "halfway_spent_vnd": half["spent_vnd"],
        "halfway_sent": half["sent"], "halfway_waiting": half["waiting"],
    })


if __name__ == "__main__":
    main()
