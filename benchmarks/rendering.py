"""What the rendering limits cost: renders per second of the shipped templates, bounded vs Jinja's sandbox.

    .venv/bin/python -m benchmarks.rendering [--rounds 200]

Renders every shipped template (sms, chat, email; bodies and subjects) with its kind's sample data, once
through `notifier.rules.rendering.render` (the bounded sandbox) and once through a plain
`ImmutableSandboxedEnvironment` with the same filters and options (what rendering was before the limits).
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from notifier.rules.clerk import REQUIRED_FILTER
from notifier.rules.clock import VN_TZ
from notifier.rules.rendering import (
    clerk_required,
    format_date,
    format_datetime,
    format_money,
    jinja_source,
    load_template_files,
    mask_phone,
    render,
    sample_context,
    whole_phrases,
)


def _plain_environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(
        autoescape=False, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True
    )
    env.filters.update(
        {"date": format_date, "datetime": format_datetime, "money": format_money, "mask_phone": mask_phone}
    )
    env.filters[REQUIRED_FILTER] = clerk_required  # what the clerks' templates compile to calls
    env.filters["whole_phrases"] = whole_phrases
    return env


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    now = datetime(2027, 2, 3, 9, 0, tzinfo=VN_TZ)
    jobs: list[tuple[str, dict[str, Any]]] = []
    for f in load_template_files():
        context = sample_context(now, f.kind)
        # The clerks' templates as the Jinja they compile to, so both environments render the same text.
        jobs.append((jinja_source(f.body, f.syntax), context))
        if f.subject:
            jobs.append((jinja_source(f.subject, f.syntax), context))
    plain = _plain_environment()
    compiled = [(plain.from_string(source), context) for source, context in jobs]
    for source, context in jobs:  # warm both caches
        render(source, context)

    start = time.perf_counter()
    for _ in range(args.rounds):
        for template, context in compiled:
            template.render(dict(context))
    plain_s = time.perf_counter() - start

    start = time.perf_counter()
    for _ in range(args.rounds):
        for source, context in jobs:
            render(source, context)
    bounded_s = time.perf_counter() - start

    n = args.rounds * len(jobs)
    print(f"{len(jobs)} templates x {args.rounds} rounds = {n} renders")
    print(f"plain sandbox : {n / plain_s:9.0f} renders/s ({plain_s / n * 1e6:6.1f} us each)")
    print(f"bounded render: {n / bounded_s:9.0f} renders/s ({bounded_s / n * 1e6:6.1f} us each)")
    print(f"cost of the limits (and render's clean-up): {bounded_s / plain_s:.2f}x")


if __name__ == "__main__":
    main()
