"""Rendering limits (notifier.rules.sandbox): no template can hold the process or its memory (issue 11).

Each hostile template below froze or bloated `notifier run` before the limits (the first two are the
issue's own). The checks are made before the expensive operation runs, so each test finishes at once.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from notifier.rules.clock import VN_TZ
from notifier.rules.rendering import (
    RenderLimits,
    TemplateError,
    TemplateTimeout,
    render,
    sample_context,
    validate,
)

NOW = datetime(2027, 2, 3, 9, 0, tzinfo=VN_TZ)
EXPONENTIAL = "{% macro f(n) %}{% if n %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(40) }}"


@pytest.fixture
def ctx() -> dict:
    return sample_context(NOW, "officer_digest")


@pytest.mark.parametrize(
    ("source", "refusal"),
    [
        ("{{ 7**(10**7) > 1 }}", "bits, larger than the limit of 256 bits"),
        ("{{ 'a'*10**8 }}", "the repeated value would be 100,000,000 characters"),
        ("{{ 'a'*100000*1000 }}", "the repeated value"),
        ("{{ [dossier.code]*10**6 }}", "the repeated value"),
        ("{% set s = 'a'*100000 %}{{ [s]*1000 }}", "the repeated value"),
        ("{{ 6 * 10**70 * 10**70 }}", "bits"),
        ("{{ '%999999999d' % 1 }}", "the formatted text"),
        ("{{ '%*d' % (999999999, 1) }}", "'*' widths"),
        ("{{ '{:>999999999}'.format(1) }}", "the formatted text"),
        ("{{ '{:{w}}'.format(1, w=999999999) }}", "nested fields"),
        ("{{ '%s'|format('x') ~ '%999999999s'|format('x') }}", "the formatted text"),
        ("{{ 'x'|center(10**9) }}", "the argument 1,000,000,000 is larger"),
        ("{{ (1).to_bytes(10**9, 'big') }}", "the argument 1,000,000,000 is larger"),
        ("{% set s = 'a'*100000 %}{{ s.replace('a', s) }}", "the replaced text"),
        ("{% set s = 'a'*100000 %}{{ s|replace('a', s) }}", "the replaced text"),
        ("{% set s = 'a'*1000 %}{{ s.join(['b']*1000) }}", "the joined text"),
        ("{% set s = '\\n'*100000 %}{{ s|indent(1000) }}", "the indented text"),
        ("{{ ('\\t'*1000).expandtabs(100000) }}", "'expandtabs' is not allowed"),
        ("{{ lipsum(10000) }}", "'lipsum' is undefined"),
        ("{{ ('x' * 200000)|wordwrap(1) }}", "No filter named 'wordwrap'"),
        (
            "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
            "loops ran more",
        ),
        ("{% for i in range(100000) %}{{ 'x'*1000 }}{% endfor %}", "longer than the limit"),
        (
            "{% macro m() %}{% for i in range(100000) %}{{ 'y'*1000 }}{% endfor %}{% endmacro %}{{ m()|length }}",
            "longer than the limit",
        ),
        (
            "{% set ns = namespace(s='a') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
            "a part of the text",
        ),
        (
            "{% set ns = namespace(s='a') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}{% endfor %}",
            "the joined value",
        ),
        (
            "{{ range(100000)|map('string')|map('replace', '1', 'z'*100000)|list|length }}",
            "the replaced text",
        ),
        ("{% for x in items recursive %}{{ loop(items) }}{% endfor %}", "recursive loops are not allowed"),
    ],
)
def test_hostile_templates_are_refused_before_they_run(ctx: dict, source: str, refusal: str) -> None:
    with pytest.raises(TemplateError) as caught:
        render(source, ctx)
    assert refusal in str(caught.value)
    assert not isinstance(caught.value, TemplateTimeout)  # refused by size, not by running out of time


def test_a_template_that_is_only_slow_is_stopped_at_its_deadline(ctx: dict) -> None:
    with pytest.raises(TemplateTimeout, match=r"longer than 0.1 s and was stopped"):
        render(EXPONENTIAL, ctx, limits=RenderLimits(seconds=0.1))


def test_validation_gives_all_its_trial_renders_one_deadline() -> None:
    # Without a shared deadline, each of the ~60 samples would spend the whole allowance.
    errors = validate(EXPONENTIAL, limits=RenderLimits(seconds=0.1))
    assert len(errors) == 1 and isinstance(errors[0], TemplateTimeout)


def test_output_is_capped(ctx: dict) -> None:
    with pytest.raises(TemplateError, match="the limit of 1,000"):
        render(
            "{% for i in range(50) %}{{ 'x' * 50 }}{% endfor %}", ctx, limits=RenderLimits(max_output=1000)
        )
    assert len(render("{{ 'x' * 900 }}", ctx, limits=RenderLimits(max_output=1000))) == 900


def test_ordinary_templates_still_work(ctx: dict) -> None:
    source = (
        "{% for d in items|sort(attribute='code') %}{{ loop.index }}. {{ d.code }} "
        "({{ d.due_at|date }}, {{ d.fee_amount|money }}){{ ' ~ ' ~ d.applicant_name|upper }}\n{% endfor %}"
        "{{ '%s hồ sơ'|format(items|length) }} {{ '{} / {}'.format(1, 2) }} {{ 2**10 }} {{ 'ab' * 3 }}"
        "{{ (items|map(attribute='code')|join(', '))|replace('000.00.30.', '')|truncate(400) }}"
    )
    text = render(source, ctx)
    assert "1.500.000 ₫" in text and "3 hồ sơ" in text and "1 / 2" in text and "1024 ababab" in text
    assert text.splitlines()[0].startswith("1. 000.00.30.H26-")
    # a large amount of money is a value, not a width: filters may receive it
    assert render("{{ 2500000000|money }}", ctx) == "2.500.000.000 ₫"
