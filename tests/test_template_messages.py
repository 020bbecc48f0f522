"""Every message of the template engine reaches the editor in Vietnamese: one row per kind of error."""

from __future__ import annotations

import re

import pytest

from notifier.rules.rendering import RenderLimits, validate
from notifier.web.admin.preview import check, vietnamese

# Words of Jinja's, the sandbox's and Python's messages, and the sample labels; none may be left once a
# message is translated (quoted names, which the officer typed, are taken out first).
ENGLISH = re.compile(
    r"\b(the|is|of|not|got|expected|unexpected|template|tags?|filter|placeholder|sample|undefined|unknown|"
    r"allowed|limit|characters|parts|budget|units|would|larger|than|loops?|guard|unsafe|object|attribute|"
    r"Encountered|Jinja|innermost|block|Error|TypeError|ZeroDivisionError|OverflowError|division|received|"
    r"citizen|business|optional|fields|empty|statement|end|print|Range|sandbox blocks|bits long)\b"
)
QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|\(\([^)]*\)\)|\{%[^%]*%\}|“[^”]*”")

CASES: dict[str, tuple[str, str]] = {
    # name: (syntax, source)
    "unclosed if": ("jinja", "{% if dossier %}x"),
    "stray endif": ("jinja", "{% endif %}"),
    "unknown tag": ("jinja", "{% frobnicate %}"),
    "dangling operator": ("jinja", "{{ dossier.code + }}"),
    "unexpected char": ("jinja", "{{ dossier.code ? }}"),
    "unclosed print": ("jinja", "{{ dossier.code "),
    "unclosed string": ("jinja", "{{ 'abc }}"),
    "two names": ("jinja", "{{ dossier.code dossier.code }}"),
    "else twice": ("jinja", "{% if dossier %}{% else %}{% else %}{% endif %}"),
    "no tag name": ("jinja", "{% %}"),
    "missing endfor": ("jinja", "{% for x in items %}{{ x.code }}"),
    "no filter": ("jinja", "{{ dossier.code|frob }}"),
    "no test": ("jinja", "{% if dossier is frob %}x{% endif %}"),
    "recursive loop": ("jinja", "{% for x in items recursive %}{{ loop(x) }}{% endfor %}"),
    "unknown name": ("jinja", "{{ dosier.code }}"),
    "unknown attribute": ("jinja", "{{ dossier.cod }}"),
    "items entry": ("jinja", "{% for d in items %}{{ d.foo }}{% endfor %}"),
    "underscore": ("jinja", "{{ dossier.__class__ }}"),
    "sandbox refusal": ("jinja", "{{ ''.__class__ }}"),
    "printed None": ("jinja", "{{ dossier.payment_link }}"),
    "filter on None": ("jinja", "{{ dossier.new_due_at|date }}"),
    "filter type": ("jinja", "{{ dossier.code|date }}"),
    "money type": ("jinja", "{{ dossier.code|money }}"),
    "type error": ("jinja", "{{ dossier.code + 1 }}"),
    "not callable": ("jinja", "{{ dossier.code() }}"),
    "zero division": ("jinja", "{{ 1 // 0 }}"),
    "huge power": ("jinja", "{{ 7**(10**7) }}"),
    "huge repeat": ("jinja", "{{ 'a'*10**8 }}"),
    "huge replace": ("jinja", "{{ ('a'*1000)|replace('a', 'a'*1000) }}"),
    "loop budget": ("jinja", "{% for i in range(100000) %}{% for j in range(100) %}{% endfor %}{% endfor %}"),
    "range": ("jinja", "{{ range(10**9)|list }}"),
    "string method": ("jinja", "{{ 'a'.expandtabs() }}"),
    "star width": ("jinja", "{{ '%*d'|format(5, 1) }}"),
    "nested format": ("jinja", "{{ '{:{}}'.format(1, 2) }}"),
    "attribute of None": ("jinja", "{{ assigned_officer.name }}"),
    "attribute of int": ("jinja", "{{ (1).real.foo }}"),
    "sms over 3 parts": ("jinja", "{{ dossier.code }}" + " dài" * 60),
    "sms over budget": (
        "simple",
        "((co_quan)): Hồ sơ ((ma_ho_so)) đã được tiếp nhận, " + "cảm ơn Ông/Bà nhiều. " * 3,
    ),
    "clerk unknown field": ("simple", "((ma_ho_s))"),
    "clerk unclosed": ("simple", "((ma_ho_so"),
    "clerk empty name": ("simple", "(())"),
    "clerk empty field": ("simple", "((ngay_hen_tra))"),
    "clerk other kind": ("simple", "((ly_do_tre))"),
}


def _leaks(message: str) -> list[str]:
    return ENGLISH.findall(QUOTED.sub("", message))


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_engine_message_is_shown_in_vietnamese(name: str) -> None:
    syntax, source = CASES[name]
    raw = validate(
        source, kind="received", channel_type="sms", syntax=syntax, limits=RenderLimits(seconds=0.5)
    )
    assert raw, f"{name}: the case no longer fails, so it tests nothing"
    for error in raw:
        shown = vietnamese(error.message)
        assert not _leaks(shown), (name, error.message, shown)
        assert re.search(r"[à-ỹđ]", shown, re.I), (name, shown)


def test_the_checks_the_editor_runs_speak_vietnamese_too() -> None:
    problems = check("{% if %}", "{{ dossier.code|frob }}", "received", "email")
    assert problems and all(not _leaks(p.message) for p in problems)


def test_the_leak_detector_sees_english() -> None:
    # Without a translation, these would reach the page: the test above would fail on them.
    assert _leaks("unexpected end of template, expected 'end of print statement'.")
    assert _leaks("SMS takes 3 UCS-2 parts, over the budget of 2 for received (sample: received, citizen)")


def test_a_message_nobody_translated_is_not_shown_in_english() -> None:
    shown = vietnamese("Something new broke in Jinja 4")
    assert not _leaks(shown) and "mẫu có lỗi" in shown


def test_a_render_stopped_by_the_clock_is_explained_in_vietnamese() -> None:
    # A sandbox timeout: rendering many nested loops under a deadline too short to finish them.
    source = "{% for i in range(99999) %}{% for j in range(99999) %}{{ i }}{% endfor %}{% endfor %}"
    [error] = validate(source, kind="received", limits=RenderLimits(seconds=0.05, max_iterations=10**12))
    shown = vietnamese(error.message)
    assert "giây" in shown and not _leaks(shown), (error.message, shown)
