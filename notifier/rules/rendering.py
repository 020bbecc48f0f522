"""Render notification templates (sms, chat, email) from officer-editable Jinja2 sources.

Template sources live in the database (seeded from `notifier/templates/` by `load_template_files`) and
are edited on the admin page, so they are untrusted input: they run in a sandbox, every placeholder is
checked against `SCHEMA`, and any failure surfaces as one exception type, `TemplateError`.
"""

from __future__ import annotations

import difflib
import functools
import re
import unicodedata
from collections.abc import Iterator, Mapping
from datetime import date, datetime, time, timedelta
from pathlib import Path
from types import SimpleNamespace, TracebackType
from typing import Any, NamedTuple

import jinja2
from babel.dates import format_date as _babel_date
from babel.dates import format_datetime as _babel_datetime
from babel.numbers import format_decimal as _babel_decimal
from jinja2 import meta, nodes

from notifier.rules.clerk import REQUIRED_FILTER, ClerkSyntaxError, Syntax, parse_problems, to_jinja
from notifier.rules.clock import VN_TZ
from notifier.rules.i18n import translations
from notifier.rules.kinds import REGISTRY, Audience, Kind, is_kind, kind_info
from notifier.rules.phrases import DEFAULT_LANGUAGE, t
from notifier.rules.sandbox import (
    BoundedEnvironment,
    RenderLimits,
    RenderTimeout,
    active_deadline,
    bounded,
)
from notifier.rules.smstext import SmsInfo, sms_info
from notifier.rules.statuses import Status, status_name

__all__ = [
    "CHANNEL_TYPES",
    "LOCALE",
    "SCHEMA",
    "SMS_MAX_UNITS",
    "TEMPLATES_DIR",
    "TOP_LEVEL_NAMES",
    "RenderLimits",
    "Syntax",
    "TemplateError",
    "TemplateFile",
    "TemplateTimeout",
    "for_sms",
    "format_date",
    "format_datetime",
    "format_money",
    "format_money_en",
    "jinja_source",
    "load_template_files",
    "mask_phone",
    "one_line",
    "render",
    "sample_context",
    "trial_contexts",
    "utf16_len",
    "validate",
    "whole_phrases",
]

LOCALE = "vi_VN"
TEMPLATES_DIR = Path(__file__).parents[1] / "templates"
CHANNEL_TYPES: tuple[str, ...] = ("sms", "chat", "email")
# Template directories that are not notification kinds and have their own loader: the chatbot's replies
# (notifier.store.bot_texts), seeded into the same table so admins edit them alongside the rest.
# `print` holds HTML forms (the apology slip) rendered by their own module with autoescape; `privacy` the
# shipped processing record (notifier.config).
OWN_LOADER_DIRS: tuple[str, ...] = ("bot", "print", "privacy")

# Three concatenated UCS-2 parts of 67 units: beyond this a message costs more than it is worth and some
# brandname gateways refuse it.
SMS_MAX_UNITS = 201

# What a dossier may lack (no appointment, fee or note yet, no apology): the sample "optional fields empty"
# leaves them None, so a template that cannot do without one fails validation.
_OPTIONAL_DOSSIER_ATTRS = frozenset(
    {
        "received_at",
        "due_at",
        "returned_at",
        "fee_amount",
        "payment_link",
        "supplement_note",
        "delay_reason",
        "original_due_at",
        "new_due_at",
        "apology_number",
        "apology_issued_at",
    }
)
_DOSSIER_ATTRS = _OPTIONAL_DOSSIER_ATTRS | {
    "code",
    "procedure_code",
    "procedure_name",
    "applicant_name",
    "applicant_kind",
    "phone_masked",
    "email",
    "status",
    "status_name",
    "fee_paid",
    # Mẫu 04 extensions so far: the rules allow one, so 2 or more is shown as not compliant.
    "extensions",
}

# Attributes a template may read from each context object. "items" describes the entries of the list.
SCHEMA: dict[str, frozenset[str]] = {
    "dossier": _DOSSIER_ATTRS,
    # level: "province" or "commune"; parent_name, short_name, seat, desk_name may be None.
    "agency": frozenset(
        {"code", "name", "phone", "address", "level", "parent_name", "short_name", "seat", "desk_name"}
    ),
    # The staff member a message is addressed to (None for citizens); kept for templates written before
    # `recipient` existed.
    "officer": frozenset({"code", "name", "title"}),
    # Who the message is addressed to: the officer or head, or the applicant (code and title None).
    "recipient": frozenset({"code", "name", "title"}),
    # The officer the dossier is assigned to, whoever receives the message; None when unassigned
    # ("chưa phân công"). An escalation goes to the head but names this officer.
    "assigned_officer": frozenset({"code", "name", "title"}),
    "items": _DOSSIER_ATTRS | {"working_days_left", "working_days_overdue"},
    # A citizen's phản ánh, kiến nghị (feedback kinds only; None otherwise).
    "feedback": frozenset({"id", "text", "created_at", "deadline_at", "answer", "answered_at"}),
    # An inter-agency step past its own deadline (step_overdue only; None otherwise).
    "step": frozenset(
        {"unit", "handler_name", "handler_title", "content", "started_at", "deadline", "working_days_overdue"}
    ),
    # An agency's monthly budget of a channel (spend_warning only; None otherwise): month "12/2026",
    # percent spent (whole number), capped (all of it spent), fallback (citizen messages take the next
    # channel of their route; false: they wait).
    "spend": frozenset(
        {"channel", "month", "percent", "spent_vnd", "budget_vnd", "warn_percent", "capped", "fallback"}
    ),
}

TOP_LEVEL_NAMES: frozenset[str] = frozenset(
    {
        "dossier",
        "agency",
        "officer",
        "recipient",
        "assigned_officer",
        "recipient_name",
        "working_days_left",
        "working_days_overdue",
        "now",
        "items",
        "feedback",
        "step",
        "spend",
    }
)


class TemplateError(ValueError):
    """Anything wrong with a template: syntax, unknown placeholder, sandbox refusal, bad filter input."""

    def __init__(self, message: str, *, field: str = "template", line: int | None = None) -> None:
        self.field = field
        self.line = line
        self.message = message
        super().__init__(message)

    def __str__(self) -> str:
        where = "template" if self.field == "template" else f"template {self.field}"
        if self.line is not None:
            where += f" line {self.line}"
        return f"{where}: {self.message}"

    def __repr__(self) -> str:
        return f"TemplateError({self.message!r}, field={self.field!r}, line={self.line!r})"


class TemplateTimeout(TemplateError):
    """The render ran out of time (a runaway template, or a machine too busy): worth trying again later."""


class TemplateFile(NamedTuple):
    kind: str
    channel_type: str
    subject: str | None
    body: str
    # `.txt` files are in the clerks' language (notifier.rules.clerk), `.j2` files in Jinja.
    syntax: Syntax = Syntax.JINJA


# ---------------------------------------------------------------------------------------------- filters


def _refuse_undefined(value: object) -> None:
    # A StrictUndefined reaching a filter must fail with its own message ("'x' is undefined"), not with a
    # confusing type complaint from the filter.
    if isinstance(value, jinja2.Undefined):
        value._fail_with_undefined_error()


def _none_error(filter_name: str) -> TemplateError:
    return TemplateError(f"filter '{filter_name}' received None; guard the placeholder with {{% if … %}}")


def _to_local(value: datetime, filter_name: str) -> datetime:
    # A naive datetime could be UTC from the database or Vietnam time from the portal; guessing would
    # shift appointment dates by seven hours, so refuse.
    if value.tzinfo is None or value.utcoffset() is None:
        raise TemplateError(
            f"filter '{filter_name}' received a naive datetime; expected a timezone-aware one"
        )
    return value.astimezone(VN_TZ)


def format_date(value: date | datetime | None) -> str:
    """`03/02/2027`; aware datetimes are first moved to Vietnam time, so 20:00 UTC is the next day."""
    _refuse_undefined(value)
    if value is None:
        raise _none_error("date")
    if isinstance(value, datetime):
        value = _to_local(value, "date").date()
    elif not isinstance(value, date):
        raise TemplateError(f"filter 'date' expects a date or datetime, got {type(value).__name__}")
    return _date_text(value)


@functools.lru_cache(maxsize=4096)
def _date_text(value: date) -> str:
    # Babel's formatter costs about as much as the rest of a short template, and messages of a batch
    # share their few dates.
    return _babel_date(value, "dd/MM/yyyy", locale=LOCALE)


def format_datetime(value: datetime | None) -> str:
    """`09:00 03/02/2027` in Vietnam time (time first, as on one-stop receipts)."""
    _refuse_undefined(value)
    if value is None:
        raise _none_error("datetime")
    if not isinstance(value, datetime):
        raise TemplateError(f"filter 'datetime' expects a datetime, got {type(value).__name__}")
    return _babel_datetime(_to_local(value, "datetime"), "HH:mm dd/MM/yyyy", locale=LOCALE)


def format_money(value: int | None, language: str = DEFAULT_LANGUAGE) -> str:
    """`1.500.000 đồng`, as administrative documents write amounts (không dấu: `1.500.000 dong`); the
    thousands dot comes from Babel's vi_VN locale. Not "₫": official texts spell the unit out. The unit
    is the `messages` catalog's (notifier.rules.phrases); another `language` groups its own way."""
    _refuse_undefined(value)
    if value is None:
        raise _none_error("money")
    # bool is an int subclass; `True|money` would print "1 ₫". Floats would hide rounding: VND has no cents.
    if isinstance(value, bool) or not isinstance(value, int):
        raise TemplateError(f"filter 'money' expects an integer amount of VND, got {type(value).__name__}")
    number = _babel_decimal(value, locale=LOCALE if language == DEFAULT_LANGUAGE else language)
    unit = t(language, "đồng")
    return f"{number} {unit}"


def format_money_en(value: int | None) -> str:
    """`1,500,000 VND`: the chatbot's English texts, for readers who group thousands with commas and know
    the currency by its ISO code rather than by "đồng" (the English `messages` catalog's unit)."""
    return format_money(value, "en")


# Where a phrase of free text (an officer's reason) may end: after these, before a space.
_PHRASE_END = re.compile(r"[,;:.!?](?=\s)|\s[-–](?=\s)")


def whole_phrases(value: str | None, limit: int) -> str:
    """The longest start of `value` made of whole phrases and at most `limit` characters, without its
    closing punctuation; "" when even the first phrase is longer. Unlike `truncate`, it never leaves a
    phrase cut in the middle ("cần lấy ý kiến của cơ…"), so a citizen never reads half a reason."""
    _refuse_undefined(value)
    if value is None:
        raise _none_error("whole_phrases")
    if not isinstance(value, str):
        raise TemplateError(f"filter 'whole_phrases' expects text, got {type(value).__name__}")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise TemplateError(f"filter 'whole_phrases': limit must be a positive integer, got {limit!r}")
    text = " ".join(value.split()).rstrip(" ,;:.!?-–")
    if len(text) <= limit:
        return text
    cut = ""
    for match in _PHRASE_END.finditer(text):
        if match.start() > limit:
            break
        candidate = text[: match.start()]
        if candidate.count("(") == candidate.count(")"):  # not inside a bracket
            cut = candidate
    return cut.rstrip(" ,;:.!?-–")


def one_line(value: str | None) -> str:
    """Free text typed on several lines, on one (an SMS has no room for line breaks): each line trimmed,
    empty ones dropped, and a line without its own closing punctuation followed by "; "."""
    _refuse_undefined(value)
    if value is None:
        raise _none_error("one_line")
    if not isinstance(value, str):
        raise TemplateError(f"filter 'one_line' expects text, got {type(value).__name__}")
    text = ""
    for line in value.splitlines():
        line = " ".join(line.split())
        if line:
            text += ("" if not text else " " if text[-1] in ",;:.!?…" else "; ") + line
    return text


_PHONE_PUNCTUATION = re.compile(r"[\s.\-()]")


def mask_phone(value: object) -> str:
    """`091****678`: first and last three digits of the national form, or `***` if it is not a phone."""
    if not isinstance(value, str):
        return "***"
    digits = _PHONE_PUNCTUATION.sub("", value)
    if digits.startswith("+84"):
        digits = "0" + digits[3:]
    elif digits.startswith("84") and len(digits) in (11, 12):
        digits = "0" + digits[2:]
    # 10 digits for mobiles and current landlines, 11 for pre-2018 mobiles still found in old records.
    if not re.fullmatch(r"0\d{9,10}", digits):
        return "***"
    return digits[:3] + "*" * (len(digits) - 6) + digits[-3:]


def clerk_required(value: object, name: str) -> object:
    """A clerk's unconditional `((name))`: an empty value stops the render, naming the field as written."""
    if value is None or value == "":
        raise TemplateError(
            f"trường (({name})) đang trống ở tin này; hãy đặt phần cần nó trong (({name}??…))"
        )
    return value


def _finalize(value: object) -> object:
    # `{{ dossier.payment_link }}` printing "None" into a citizen's SMS is the same silent bug as a
    # filter swallowing None.
    if value is None:
        raise TemplateError("a placeholder printed None; guard it with {% if … %}")
    return value


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units: what a UCS-2 SMS part (70, or 67 when concatenated) counts."""
    return len(text.encode("utf-16-le")) // 2


def for_sms(context: Mapping[str, Any], *, payment_links: bool = False) -> dict[str, Any]:
    """`context` as an SMS template sees it: without the payment link unless `payment_links` (links in SMS
    are what phishing looks like; see [messages] sms_payment_links)."""
    out = dict(context)
    if payment_links:
        return out
    for key in ("dossier", "items"):
        value = out.get(key)
        if isinstance(value, SimpleNamespace):
            out[key] = SimpleNamespace(**{**vars(value), "payment_link": None})
        elif isinstance(value, list):
            out[key] = [
                SimpleNamespace(**{**vars(v), "payment_link": None}) if isinstance(v, SimpleNamespace) else v
                for v in value
            ]
    return out


# ------------------------------------------------------------------------------------------ environment


def _make_environment(language: str | None = None) -> BoundedEnvironment:
    # Immutable sandbox (a template must not mutate the caller's lists, `items.append(…)`) with every render
    # bounded in time and size: templates are edited by agency users and must not stall the service.
    # With a `language` (the chatbot's texts), `_("…")` translates through that language's `chat` catalog.
    env = BoundedEnvironment(
        extensions=["jinja2.ext.i18n"] if language is not None else [],
        autoescape=False,  # plain text for sms/chat/email; HTML would need its own environment
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_finalize,
    )
    env.filters.update(
        {
            "date": format_date,
            "datetime": format_datetime,
            "money": format_money_en if language == "en" else format_money,
            "mask_phone": mask_phone,
            "whole_phrases": whole_phrases,
            "one_line": one_line,
            REQUIRED_FILTER: clerk_required,
        }
    )
    env.guard_filters()
    if language is not None:
        # newstyle: `_("Hồ sơ %(code)s", code=…)` formats after translating, so a translation may move
        # the placeholder; the msgid is the Vietnamese text (notifier.rules.i18n).
        env.install_gettext_translations(translations(language, "chat"), newstyle=True)  # type: ignore[attr-defined]
    return env


_ENV = _make_environment()
_TEMPLATE_FILENAME = "<template>"  # what Jinja names string templates in rewritten tracebacks


@functools.cache
def _chat_environment(language: str) -> BoundedEnvironment:
    return _make_environment(language)


@functools.lru_cache(maxsize=512)
def _compile(source: str, language: str | None = None) -> jinja2.Template:
    # The dispatcher renders the same few dozen sources thousands of times; compiling is the slow part.
    env = _ENV if language is None else _chat_environment(language)
    return env.from_string(source)


def _template_line(tb: TracebackType | None) -> int | None:
    """The innermost template line in a traceback Jinja has rewritten to point into the source."""
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == _TEMPLATE_FILENAME:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


_NO_ATTRIBUTE = re.compile(r"^'(?P<obj>.+)' has no attribute '(?P<attr>[^']+)'$")


def _dotted(node: nodes.Node) -> str | None:
    if isinstance(node, nodes.Name):
        return node.name
    if isinstance(node, nodes.Getattr):
        parent = _dotted(node.node)
        return None if parent is None else f"{parent}.{node.attr}"
    return None


def _explain_undefined(message: str, source: str, line: int | None) -> str:
    """Turn Jinja's "'types.SimpleNamespace object' has no attribute 'foo'" into "'dossier' has no …"."""
    match = _NO_ATTRIBUTE.match(message)
    if match is None or line is None:
        return message
    try:
        ast = _ENV.parse(source)
    except jinja2.TemplateSyntaxError:
        return message
    attr = match["attr"]
    owners = {
        _dotted(node.node)
        for node in ast.find_all(nodes.Getattr)
        if node.lineno == line and node.attr == attr
    }
    owners.discard(None)
    if len(owners) != 1:
        return message
    owner = owners.pop()
    if match["obj"] == "None":
        return f"'{owner}' is None, so it has no attribute '{attr}'; guard it with {{% if {owner} %}}"
    return f"'{owner}' has no attribute '{attr}'"


def _as_template_error(exc: Exception, source: str, field: str) -> TemplateError:
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return TemplateError(exc.message or str(exc), field=field, line=exc.lineno)
    line = _template_line(exc.__traceback__)
    if isinstance(exc, RenderTimeout):
        return TemplateTimeout(exc.message or str(exc), field=field, line=line)
    if isinstance(exc, TemplateError):
        return TemplateError(exc.message, field=field, line=exc.line if exc.line is not None else line)
    if isinstance(exc, jinja2.UndefinedError):
        return TemplateError(
            _explain_undefined(exc.message or str(exc), source, line), field=field, line=line
        )
    if isinstance(exc, jinja2.TemplateError):
        return TemplateError(exc.message or str(exc), field=field, line=line)
    # TypeError, ZeroDivisionError, OverflowError from the sandbox's range limit…: still the template's fault.
    return TemplateError(f"{type(exc).__name__}: {exc}", field=field, line=line)


_BLANK_RUNS = re.compile(r"\n{3,}")
_TRAILING_SPACE = re.compile(r"[ \t]+\n")


def jinja_source(source: str, syntax: str = Syntax.JINJA, field: str = "template") -> str:
    """The Jinja text the renderer runs for `source` written in `syntax` (a clerk's text is compiled)."""
    if syntax == Syntax.JINJA:
        return source
    if syntax != Syntax.SIMPLE:
        raise TemplateError(f"unknown template syntax {syntax!r}", field=field)
    try:
        return to_jinja(source)
    except ClerkSyntaxError as exc:
        raise TemplateError(exc.message, field=field, line=exc.line) from exc


def render(
    source: str,
    context: Mapping[str, Any],
    *,
    field: str = "template",
    limits: RenderLimits | None = None,
    syntax: str = Syntax.JINJA,
    language: str | None = None,
) -> str:
    """Render `source` with `context`; the result is stripped, has no run of blank lines, and is NFC.

    `syntax` says how `source` is written (Jinja, or the clerks' language compiled to it first).
    The render is bounded by `limits` (defaults: `RenderLimits()`); inside `validate` the trial renders
    share one deadline. Past a limit it raises TemplateError, or TemplateTimeout for the time limit.
    `language` ("vi", "en"): a chatbot text, whose `_("…")` are translated through the `chat` catalog and
    whose amounts are written that language's way; None: a notification template (Vietnamese only).
    """
    source = jinja_source(source, syntax, field)
    try:
        with bounded(limits, deadline=active_deadline()):
            text = _compile(source, language).render(dict(context))
    except Exception as exc:
        raise _as_template_error(exc, source, field) from exc
    cap = (limits or RenderLimits()).max_output
    if len(text) > cap:
        raise TemplateError(f"the text is {len(text):,} characters long, more than the limit of {cap:,}")
    # Trailing blanks come from `{% if %}` lines that rendered empty; they would also defeat the collapse.
    text = _TRAILING_SPACE.sub("\n", text.strip())
    text = _BLANK_RUNS.sub("\n\n", text)
    # Officers paste text from Word and PDFs in decomposed form; NFC keeps an SMS in fewer UCS-2 units.
    return unicodedata.normalize("NFC", text)


# ------------------------------------------------------------------------------------------- validation


def _unwrap_filters(node: nodes.Node) -> nodes.Node:
    # `{% for d in items|sort(attribute="due_at") %}` still iterates over items entries.
    while isinstance(node, nodes.Filter) and node.node is not None:
        node = node.node
    return node


# "items" itself is a list, so it has no attributes; "items[]" stands for one of its entries.
_ALLOWED_ATTRS: dict[str, frozenset[str]] = {**SCHEMA, "items": frozenset(), "items[]": SCHEMA["items"]}


def _walk_paths(node: nodes.Node, scope: Mapping[str, str], found: dict[str, tuple[int, str]]) -> None:
    """Record unknown attributes read from schema objects; `scope` maps a template name to a SCHEMA key."""
    if isinstance(node, nodes.For):
        _walk_paths(node.iter, scope, found)
        inner = dict(scope)
        for target in node.target.find_all(nodes.Name):
            inner.pop(target.name, None)
        iterated = _unwrap_filters(node.iter)
        if (
            isinstance(node.target, nodes.Name)
            and isinstance(iterated, nodes.Name)
            and scope.get(iterated.name) == "items"
        ):
            inner[node.target.name] = "items[]"
        for child in node.body:
            _walk_paths(child, inner, found)
        if node.test is not None:
            _walk_paths(node.test, inner, found)
        for child in node.else_:
            _walk_paths(child, scope, found)
        return

    owner: str | None = None
    attr: str | None = None
    if isinstance(node, nodes.Getattr) and isinstance(node.node, nodes.Name):
        owner, attr = node.node.name, node.attr
    elif (
        isinstance(node, nodes.Getitem)
        and isinstance(node.node, nodes.Name)
        and isinstance(node.arg, nodes.Const)
        and isinstance(node.arg.value, str)
    ):
        owner, attr = node.node.name, node.arg.value
    if owner is not None and attr is not None and owner in scope:
        key = scope[owner]
        allowed = _ALLOWED_ATTRS[key]
        if attr not in allowed:
            placeholder = f"{owner}.{attr}"
            message = f"unknown placeholder '{placeholder}'"
            if key == "items[]":
                message += " (an entry of 'items')"
            if attr.startswith("_"):
                message = f"unsafe placeholder '{placeholder}': the sandbox refuses names starting with '_'"
            close = difflib.get_close_matches(attr, sorted(allowed), n=1, cutoff=0.5)
            if close and not attr.startswith("_"):
                message += f"; did you mean '{owner}.{close[0]}'?"
            found.setdefault(placeholder, (node.lineno, message))

    for child in node.iter_child_nodes():
        _walk_paths(child, scope, found)


def _static_errors(ast: nodes.Template, field: str) -> list[TemplateError]:
    allowed_names = TOP_LEVEL_NAMES | set(_ENV.globals)
    unknown = meta.find_undeclared_variables(ast) - allowed_names
    errors: dict[str, tuple[int, str]] = {}
    for name_node in ast.find_all(nodes.Name):
        if name_node.name in unknown and name_node.ctx == "load":
            message = f"unknown placeholder '{name_node.name}'"
            close = difflib.get_close_matches(name_node.name, sorted(TOP_LEVEL_NAMES), n=1)
            if close:
                message += f"; did you mean '{close[0]}'?"
            errors.setdefault(name_node.name, (name_node.lineno, message))
    _walk_paths(ast, {name: name for name in SCHEMA}, errors)
    ordered = sorted(errors.values())
    return [TemplateError(message, field=field, line=line) for line, message in ordered]


def trial_contexts(now: datetime, kind: str | None = None) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(label, kind, context) of every sample a template is tried on: citizen, business, empty fields."""
    kinds = [kind] if kind is not None else list(REGISTRY)
    for each in kinds:
        yield f"{each}, citizen", each, sample_context(now, each)
        yield f"{each}, business", each, sample_context(now, each, applicant_kind="business")
        yield f"{each}, optional fields empty", each, sample_context(now, each, minimal=True)


# Validation must not depend on the wall clock (no datetime.now() in this module); any fixed instant works
# because sample dates are computed from it.
_VALIDATION_NOW = datetime(2027, 2, 3, 9, 0, tzinfo=VN_TZ)


def validate(
    source: str,
    field: str = "body",
    *,
    kind: str | None = None,
    channel_type: str | None = None,
    limits: RenderLimits | None = None,
    syntax: str = Syntax.JINJA,
) -> list[TemplateError]:
    """Every problem an officer should fix before saving `source`; [] when it is fit to send.

    With `kind`, the trial render uses that kind's sample data only; without it, every kind's (so a
    template is checked against every audience). With `channel_type="sms"`, renders longer than
    `SMS_MAX_UNITS` UTF-16 units are errors. All trial renders together get `limits.seconds`.
    """
    if kind is not None:
        kind_info(kind)  # ValueError naming the kind
    if syntax == Syntax.SIMPLE:
        # The clerk's own mistakes first, in the clerk's terms; the compiled text is then checked like any.
        mistakes = parse_problems(source, kind)
        if mistakes:
            return [TemplateError(m.message, field=field, line=m.line) for m in mistakes]
    try:
        source = jinja_source(source, syntax, field)
    except TemplateError as exc:
        return [exc]
    try:
        ast = _ENV.parse(source)
    except jinja2.TemplateSyntaxError as exc:
        return [TemplateError(exc.message or str(exc), field=field, line=exc.lineno)]
    try:
        # Before the placeholder walk: find_undeclared_variables compiles too and would raise on these.
        _compile(source)
    except jinja2.TemplateSyntaxError as exc:  # e.g. an unknown filter, found by the compiler
        return [TemplateError(exc.message or str(exc), field=field, line=exc.lineno)]
    static = _static_errors(ast, field)
    if static:
        # A trial render would only repeat these as less helpful "undefined" errors.
        return static

    errors: list[TemplateError] = []
    seen: set[tuple[int | None, str]] = set()
    with bounded(limits):  # one deadline for every sample, or a hostile template costs it N times
        for label, each, context in trial_contexts(_VALIDATION_NOW, kind):
            budget_kind = each if kind is not None else None  # every kind's samples: no one budget
            trial = _trial(source, context, field, limits, label, channel_type, budget_kind)
            if trial is None:
                continue
            message = trial.message.split(" (sample: ")[0]
            if message.startswith("SMS is "):
                key: tuple[int | None, str] = (None, "too long")
            elif message.startswith("SMS takes "):
                key = (None, "budget")
            else:
                key = (trial.line, message)
            if key not in seen:
                seen.add(key)
                errors.append(trial)
            if isinstance(trial, TemplateTimeout):
                break  # the shared deadline is gone: the other samples would only repeat it
    return errors


def _trial(
    source: str,
    context: dict[str, Any],
    field: str,
    limits: RenderLimits | None,
    label: str,
    channel_type: str | None,
    budget_kind: str | None,
) -> TemplateError | None:
    """What one trial render finds wrong, labelled with its sample; None when it is fine. An SMS is also
    held to `budget_kind`'s budget, on what the dispatcher sends by default (no payment link)."""
    try:
        text = render(source, context, field=field, limits=limits)
        if channel_type != "sms":
            return None
        if utf16_len(text) > SMS_MAX_UNITS:
            return TemplateError(
                f"SMS is {utf16_len(text)} UTF-16 units, more than {SMS_MAX_UNITS} (3 UCS-2 parts) "
                f"(sample: {label})",
                field=field,
            )
        if budget_kind is None:
            return None
        info = sms_info(render(source, for_sms(context), field=field, limits=limits))
    except TemplateError as exc:
        cls = TemplateTimeout if isinstance(exc, TemplateTimeout) else TemplateError
        return cls(f"{exc.message} (sample: {label})", field=field, line=exc.line)
    return _over_budget(info, budget_kind, field, label)


def _over_budget(info: SmsInfo, kind: str, field: str, label: str) -> TemplateError | None:
    """`info` (an SMS's size) against the kind's budget of parts."""
    budget = kind_info(kind).sms_segments
    if info.segments <= budget:
        return None
    # What fits the budget: one whole part, or `budget` concatenated parts (each a little shorter).
    single, per_part = (70, 67) if info.encoding == "UCS-2" else (160, 153)
    most = single if budget == 1 else per_part * budget
    return TemplateError(
        f"SMS takes {info.segments} {info.encoding} parts, over the budget of {budget} for {kind}: "
        f"{info.units} characters, {info.units - most} more than the {most} that fit "
        f"(sample: {label})",
        field=field,
    )


# ---------------------------------------------------------------------------------------- sample data


def _working_day(day: date, step: int) -> date:
    """Move `step` weekdays from `day` (holidays ignored: this is preview data, not a deadline)."""
    direction = 1 if step >= 0 else -1
    remaining = abs(step)
    while remaining or day.weekday() >= 5:
        day += timedelta(days=direction)
        if day.weekday() < 5:
            remaining = max(remaining - 1, 0)
    return day


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=VN_TZ)


_AGENCY_CODE = "000.00.30.H26"
_BUSINESS_NAME = "Công ty TNHH Thương mại và Dịch vụ Cảng Xanh"


def _sample_dossier(
    now: datetime,
    seq: int,
    kind: str,
    *,
    applicant_name: str,
    applicant_kind: str,
    procedure_name: str = "Cấp giấy phép xây dựng mới đối với công trình không theo tuyến",
    days_left: int | None = None,
    days_overdue: int | None = None,
) -> dict[str, Any]:
    today = now.astimezone(VN_TZ).date()
    info = kind_info(kind)
    status = info.dossier_status
    if kind in (Kind.RECEIVED, Kind.REJECTED):
        received_at = now - timedelta(minutes=25)
        due_day = _working_day(today, 15)
    else:
        received_at = _at(_working_day(today, -12), 9, 15)
        if days_overdue is not None:
            due_day = _working_day(today, -days_overdue)
        else:
            due_day = _working_day(today, 3 if days_left is None else days_left)
    overdue = info.overdue
    apology = overdue and kind != Kind.OVERDUE_NOTICE
    new_due = _at(_working_day(today, 5), 16, 30)
    code = f"{_AGENCY_CODE}-{received_at.astimezone(VN_TZ):%y%m%d}-{seq:04d}"
    return {
        "code": code,
        "procedure_code": "1.009972",
        "procedure_name": procedure_name,
        "applicant_name": applicant_name,
        "applicant_kind": applicant_kind,
        "phone_masked": mask_phone("0912345678"),
        "email": "lienhe@cangxanh.example" if applicant_kind == "business" else "huong.nguyen@example.com",
        "status": status,
        "status_name": status_name(status),
        "received_at": received_at,
        # After the apology the portal moves the appointment itself; before it, due_at is the missed one.
        "due_at": new_due if kind == Kind.NEW_APPOINTMENT else _at(due_day, 16, 30),
        "returned_at": _at(today, 8, 40) if status == 10 else None,
        "fee_amount": 1_500_000,
        "fee_paid": status != Status.PAYMENT_REQUESTED,
        "payment_link": f"https://dichvucong.gov.vn/p/thanh-toan?ma={code}",
        "supplement_note": (
            "Bản sao có chứng thực Giấy chứng nhận quyền sử dụng đất; "
            "bản vẽ thiết kế có chữ ký của chủ đầu tư"
        ),
        "delay_reason": "cần lấy ý kiến của cơ quan quản lý quy hoạch",
        "original_due_at": _at(due_day, 16, 30) if overdue else None,
        "new_due_at": new_due if overdue else None,
        "apology_number": "15/VBXL" if apology else None,
        # Mẫu 04 is made before the appointment it apologises for, so on an earlier day than the message.
        "apology_issued_at": _at(_working_day(due_day, -1), 15, 0) if apology else None,
        "extensions": 1 if apology else 0,
    }


def sample_context(
    now: datetime,
    kind: str = "received",
    *,
    applicant_kind: str = "citizen",
    minimal: bool = False,
) -> dict[str, Any]:
    """Realistic Hai Phong data in the shape the dispatcher passes, for previews and trial renders.

    `minimal=True` sets every optional field to None (and `items` to [], `assigned_officer` to None
    unless the officer is the addressee: an unassigned dossier), which is what exposes a template that
    forgets an `{% if %}`.
    """
    info = kind_info(kind)  # ValueError naming the kind
    if applicant_kind not in ("citizen", "business"):
        raise ValueError(f"applicant_kind must be 'citizen' or 'business', got {applicant_kind!r}")
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    audience = info.audience
    applicant_name = _BUSINESS_NAME if applicant_kind == "business" else "Nguyễn Thị Hương"

    days_left = {Kind.DUE_SOON: 2, Kind.APOLOGY_DUE: 1}.get(Kind(kind))
    days_overdue = {Kind.ESCALATION: 6}.get(Kind(kind), 3 if info.overdue else None)
    dossier = _sample_dossier(
        now,
        12,
        kind,
        applicant_name=applicant_name,
        applicant_kind=applicant_kind,
        days_left=days_left,
        days_overdue=days_overdue,
    )

    items: list[SimpleNamespace] = []
    if info.digest:
        for seq, name, procedure, left, late in (
            (31, "Nguyễn Thị Hương", "Cấp giấy phép xây dựng mới đối với nhà ở riêng lẻ", 0, None),
            (27, "Lê Văn Hải", "Cấp giấy phép sửa chữa, cải tạo công trình", 2, None),
            (18, "Trần Văn Bình", "Điều chỉnh giấy phép xây dựng", None, 4),
        ):
            entry = _sample_dossier(
                now,
                seq,
                Kind.OVERDUE_ALERT if late else Kind.DUE_SOON,
                applicant_name=name,
                applicant_kind="citizen",
                procedure_name=procedure,
                days_left=left,
                days_overdue=late,
            )
            # The late one has been extended twice: digests flag it as not compliant.
            entry["extensions"] = 2 if late else 0
            items.append(SimpleNamespace(**entry, working_days_left=left, working_days_overdue=late))

    recipient_name = {
        Audience.CITIZEN: applicant_name,
        Audience.OFFICER: "Vũ Đức Thắng",
        Audience.HEAD: "Phạm Thị Lan",
    }[audience]
    recipient_code = {Audience.CITIZEN: None, Audience.OFFICER: "CB-0421", Audience.HEAD: "LD-0102"}[audience]
    recipient_title = {Audience.CITIZEN: None, Audience.OFFICER: "Chuyên viên", Audience.HEAD: "Phó Giám đốc"}
    recipient = SimpleNamespace(
        code=recipient_code, name=recipient_name, title=None if minimal else recipient_title[audience]
    )
    # The addressee, for staff; `officer` is what templates written before `recipient` read.
    officer = recipient if audience.is_staff else None
    # The officer handling the dossier: the addressee of an officer alert, someone else for a head.
    assigned_officer: SimpleNamespace | None = None
    if audience is Audience.OFFICER:
        assigned_officer = recipient
    elif not minimal:
        assigned_officer = SimpleNamespace(code="CB-0421", name="Vũ Đức Thắng", title="Chuyên viên")

    if minimal:
        dossier.update(dict.fromkeys(_OPTIONAL_DOSSIER_ATTRS))
        dossier["fee_paid"] = False
        days_left = days_overdue = None
        items = []

    return {
        "dossier": SimpleNamespace(**dossier),
        "agency": SimpleNamespace(
            code=_AGENCY_CODE,
            name="Sở Xây dựng thành phố Hải Phòng",
            phone=None if minimal else "0225 3842 666",
            address=None if minimal else "Trung tâm Phục vụ hành chính công thành phố Hải Phòng",
            level="province",
            parent_name=None if minimal else "UBND THÀNH PHỐ HẢI PHÒNG",
            short_name=None if minimal else "So XD Hai Phong",
            seat=None if minimal else "Hải Phòng",
            desk_name=None if minimal else "Trung tâm Phục vụ hành chính công thành phố Hải Phòng",
        ),
        "officer": officer,
        "recipient": recipient,
        "assigned_officer": assigned_officer,
        "recipient_name": recipient_name,
        "working_days_left": days_left,
        "working_days_overdue": days_overdue,
        "now": now,
        "items": items,
        "feedback": _sample_feedback(now, kind),
        "step": _sample_step(now, kind, minimal),
        "spend": _sample_spend(kind),
    }


def _sample_spend(kind: str) -> SimpleNamespace | None:
    if kind != Kind.SPEND_WARNING:
        return None
    return SimpleNamespace(
        channel="sms_esms",
        month="12/2026",
        percent=82,
        spent_vnd=4_100_000,
        budget_vnd=5_000_000,
        warn_percent=80,
        capped=False,
        fallback=True,
    )


def _sample_step(now: datetime, kind: str, minimal: bool) -> SimpleNamespace | None:
    if kind != Kind.STEP_OVERDUE:
        return None
    today = now.astimezone(VN_TZ).date()
    return SimpleNamespace(
        unit="Phòng Quản lý đất đai - Sở Nông nghiệp và Môi trường",
        handler_name=None if minimal else "Trần Minh Đức",
        handler_title=None if minimal else "Chuyên viên",
        content=None if minimal else "Thẩm định hồ sơ đề nghị cấp Giấy chứng nhận quyền sử dụng đất",
        started_at=_at(_working_day(today, -6), 8, 30),
        deadline=_at(_working_day(today, -2), 17, 0),
        working_days_overdue=None if minimal else 2,
    )


def _sample_feedback(now: datetime, kind: str) -> SimpleNamespace | None:
    if not kind_info(kind).feedback:
        return None
    today = now.astimezone(VN_TZ).date()
    answered = kind == Kind.FEEDBACK_ANSWER
    return SimpleNamespace(
        id=27,
        text=(
            "Tôi nộp hồ sơ đã hơn hai tuần nhưng chưa nhận được thông báo nào. "
            "Đề nghị cơ quan cho biết hồ sơ đang ở bước nào."
        ),
        created_at=_at(_working_day(today, -2), 10, 5),
        deadline_at=_at(_working_day(today, 8), 17, 0),
        answer=(
            "Hồ sơ đang được thẩm định tại phòng chuyên môn và sẽ trả kết quả đúng ngày hẹn. "
            "Cơ quan xin lỗi vì chưa thông báo kịp thời."
        )
        if answered
        else None,
        answered_at=now if answered else None,
    )


# ------------------------------------------------------------------------------------------ file seeds


# A shipped template's syntax is its file's extension: `.txt` the clerks' language, `.j2` Jinja.
_EXTENSIONS: dict[str, Syntax] = {".txt": Syntax.SIMPLE, ".j2": Syntax.JINJA}


def load_template_files(root: Path | None = None) -> list[TemplateFile]:
    """Every `<channel_type>/<kind>.txt` (clerks' language) or `.j2` (Jinja) under `root`, with the email
    subject from `<kind>.subject.txt` or `.j2` (in the body's syntax).

    Unknown kinds, channel types, orphaned subject files and a kind in both syntaxes raise ValueError: a
    misspelt file name would otherwise be seeded as a template nobody ever sends.
    """
    root = TEMPLATES_DIR if root is None else root
    found: list[TemplateFile] = []
    for channel_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
        if channel_dir.name in OWN_LOADER_DIRS:
            continue
        channel_type = channel_dir.name
        if channel_type not in CHANNEL_TYPES:
            expected = ", ".join(CHANNEL_TYPES)
            raise ValueError(f"{channel_dir}: unknown channel type; expected one of {expected}")
        subjects: dict[str, Path] = {}
        bodies: dict[str, Path] = {}
        for path in sorted(channel_dir.iterdir()):
            if path.suffix not in _EXTENSIONS:
                continue
            stem = path.name.removesuffix(path.suffix)
            table, name = (
                (subjects, stem.removesuffix(".subject")) if stem.endswith(".subject") else (bodies, stem)
            )
            if name in table:
                raise ValueError(
                    f"{path}: {channel_type}/{name} is written in both {table[name].name} and {path.name}"
                )
            table[name] = path
        for kind in sorted(set(bodies) | set(subjects)):
            if not is_kind(kind):
                raise ValueError(f"{channel_dir}/{kind}: unknown kind; expected one of {', '.join(REGISTRY)}")
            if kind not in bodies:
                raise ValueError(f"{subjects[kind]}: subject without a body template")
            syntax = _EXTENSIONS[bodies[kind].suffix]
            subject: str | None = None
            if channel_type == "email":
                if kind not in subjects:
                    raise ValueError(
                        f"{bodies[kind]}: email template without {kind}.subject{bodies[kind].suffix}"
                    )
                if _EXTENSIONS[subjects[kind].suffix] is not syntax:
                    raise ValueError(
                        f"{subjects[kind]}: the subject must be written like its body ({bodies[kind].name})"
                    )
                subject = subjects[kind].read_text(encoding="utf-8")
            elif kind in subjects:
                raise ValueError(f"{subjects[kind]}: only email templates have a subject")
            found.append(
                TemplateFile(kind, channel_type, subject, bodies[kind].read_text(encoding="utf-8"), syntax)
            )
    return found
