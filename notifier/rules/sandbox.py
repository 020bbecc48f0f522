"""A Jinja sandbox whose every render is bounded in time, in output and in the size of what it makes.

Jinja's own sandbox stops a template from reaching Python internals, not from spending the process:
`{{ 7**(10**7) }}` or `{{ 'a'*10**8 }}` is one C call that holds the interpreter (and the event loop, and
`/healthz`) for seconds and takes hundreds of MB. Here:

- operators that can grow a value in one step (`**`, `*`, `%`, `+`) are checked *before* they run, from
  the sizes of their operands; string formatting (`%`, `format`, `str.format`) is checked from its widths
  and fields; `join`, `replace`, `indent` and the like from their arguments;
- every value a filter, call or operator returns is weighed (a list counts what `str()` of it would
  print) and charged to the render; past `max_value` for one value or `max_total` in all, the render stops;
- every loop iteration is counted and checks the deadline; recursive loops are refused; every piece of
  output is counted, so a macro building text in a loop cannot grow past `max_output`.

A Python thread cannot be killed, so these checks are what keep a render from running away: none of them
waits for an operation to finish before judging it. `time.monotonic` measures the budget: it is the
render's own CPU allowance, not a business time, so it does not come from the injected clock.
"""

from __future__ import annotations

import contextvars
import functools
import re
import string
import time
import types
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

__all__ = [
    "BoundedEnvironment",
    "RenderLimitError",
    "RenderLimits",
    "RenderTimeout",
    "active_deadline",
    "bounded",
]


@dataclass(frozen=True)
class RenderLimits:
    """What one render may spend. The defaults fit the longest digest e-mail with room to spare."""

    seconds: float = 1.0  # wall time of one render (all trial renders of one validation together)
    max_output: int = 200_000  # characters in the finished text
    max_value: int = 200_000  # characters (or items) in any one value the template makes
    max_total: int = 5_000_000  # characters made in all by filters, calls and operators
    max_int_bits: int = 256  # an amount of VND needs 40
    max_iterations: int = 200_000  # loop iterations in all


class RenderLimitError(jinja2.TemplateError):
    """The template tried to spend more than its limits allow (size); retrying it will not help."""


class RenderTimeout(RenderLimitError):
    """The render used up its time: possibly a busy machine, so it is worth another try later."""


class _Budget:
    __slots__ = ("deadline", "iterations", "limits", "made", "written")

    def __init__(self, limits: RenderLimits, deadline: float) -> None:
        self.limits = limits
        self.deadline = deadline
        self.iterations = 0
        self.made = 0
        self.written = 0

    def tick(self) -> None:
        if time.monotonic() > self.deadline:
            raise RenderTimeout(f"rendering took longer than {self.limits.seconds:g} s and was stopped")


_DEFAULT = RenderLimits()
_CURRENT: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar("render_budget", default=None)


def _budget() -> _Budget:
    budget = _CURRENT.get()
    if budget is None:
        # Rendered outside `bounded()`: each operation is still checked against the defaults, but loops
        # and totals are not counted across operations (`render` always opens a block).
        budget = _Budget(_DEFAULT, time.monotonic() + _DEFAULT.seconds)
    return budget


def active_deadline() -> float | None:
    """The deadline of the enclosing `bounded()` block, if any (trial renders of one validation share it)."""
    budget = _CURRENT.get()
    return None if budget is None else budget.deadline


class bounded:  # lower case: used as `with bounded(limits):`, like a function
    """Renders inside this block share one deadline (`limits.seconds` from entry); sizes count per block."""

    def __init__(self, limits: RenderLimits | None = None, deadline: float | None = None) -> None:
        self.limits = limits or _DEFAULT
        self.deadline = deadline if deadline is not None else time.monotonic() + self.limits.seconds
        self._token: contextvars.Token[_Budget | None] | None = None

    def __enter__(self) -> bounded:
        self._token = _CURRENT.set(_Budget(self.limits, self.deadline))
        return self

    def __exit__(self, *exc: object) -> None:
        if self._token is not None:
            _CURRENT.reset(self._token)


# ----------------------------------------------------------------------------------------------- weights


def _weight(value: object, cap: int) -> int:
    """About what `str(value)` would print, in characters; stops counting past `cap`."""
    if isinstance(value, str | bytes | bytearray):
        return len(value)
    if isinstance(value, bool) or value is None:
        return 5
    if isinstance(value, int):
        return value.bit_length() // 3 + 1
    if isinstance(value, range):
        return 16  # lazy: what it prints is "range(0, n)"; loops over it are counted one by one
    if isinstance(value, list | tuple | set | frozenset | dict):
        total = len(value) * 2 + 2
        if total > cap:
            return total
        items: Iterable[object] = value.items() if isinstance(value, dict) else value
        for item in items:
            total += _weight(item, cap - total)
            if total > cap:
                break
        return total
    # Dates, numbers, undefined, macros: short reprs. The context's SimpleNamespace records too: their
    # fields come from the database, and a template cannot create one or grow its fields.
    return 16


def _too_big(what: str, size: int, limit: int) -> RenderLimitError:
    return RenderLimitError(f"{what} would be {size:,} characters long, more than the limit of {limit:,}")


def _admit(value: Any) -> Any:
    """Weigh a value the template made, charge it to the render, and stop at the limits."""
    budget = _budget()
    budget.tick()
    limits = budget.limits
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > limits.max_int_bits:
        raise RenderLimitError(
            f"a number of {value.bit_length():,} bits is larger than the limit of {limits.max_int_bits} bits"
        )
    size = _weight(value, limits.max_value + 1)
    if size > limits.max_value:
        raise _too_big("a value", size, limits.max_value)
    budget.made += size
    if budget.made > limits.max_total:
        raise RenderLimitError(f"the template made more than {limits.max_total:,} characters in all")
    return value


def _check_args(args: Iterable[object], *, numbers: bool = True) -> None:
    """Arguments a filter or call may turn into text must already be of an admissible size; with `numbers`,
    integers too (a width, a count), since they can multiply the result."""
    limits = _budget().limits
    for arg in args:
        if isinstance(arg, int) and not isinstance(arg, bool):
            if not numbers:
                continue
            if abs(arg) > limits.max_value:
                raise RenderLimitError(
                    f"the argument {arg:,} is larger than the limit of {limits.max_value:,}"
                )
            continue
        size = _weight(arg, limits.max_value + 1)
        if size > limits.max_value:
            raise _too_big("an argument", size, limits.max_value)


# ------------------------------------------------------------------------------------------- formatting

_PRINTF_FIELD = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?([a-zA-Z%])")


def _check_format_size(fields: int, widths: int, args: Iterable[object], literal: int) -> None:
    limits = _budget().limits
    longest = max((_weight(a, limits.max_value + 1) for a in args), default=0)
    size = literal + widths + fields * longest
    if size > limits.max_value:
        raise _too_big("the formatted text", size, limits.max_value)


def _check_printf(fmt: str, values: object) -> None:
    fields = widths = 0
    for match in _PRINTF_FIELD.finditer(fmt):
        if match[3] == "%":
            continue
        if "*" in (match[1], match[2]):
            raise RenderLimitError("'*' widths in % formatting are not allowed")
        fields += 1
        widths += int(match[1] or 0) + int(match[2] or 0)
    args: list[object]
    if isinstance(values, dict):
        args = list(values.values())
    elif isinstance(values, tuple):
        args = list(values)
    else:
        args = [values]
    _check_format_size(fields, widths, args, len(fmt))


def _check_str_format(fmt: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    fields = widths = 0
    try:
        parsed = list(string.Formatter().parse(fmt))
    except ValueError as exc:
        raise RenderLimitError(f"format string: {exc}") from exc
    for _literal, name, spec, _conversion in parsed:
        if name is None:
            continue
        if spec and "{" in spec:
            raise RenderLimitError("nested fields in a format specification are not allowed")
        fields += 1
        widths += sum(int(n) for n in re.findall(r"\d+", spec or ""))
    _check_format_size(fields, widths, [*args, *kwargs.values()], len(fmt))


# ------------------------------------------------------------------------------------------- operators


def _check_binop(operator: str, left: Any, right: Any) -> None:
    limits = _budget().limits
    if operator == "**" and isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
        bits = left.bit_length() * right
        if right > limits.max_int_bits or bits > limits.max_int_bits:
            raise RenderLimitError(
                f"{left} ** {right} would be a number of about {bits:,} bits, "
                f"larger than the limit of {limits.max_int_bits} bits"
            )
    elif operator == "*":
        for seq, times in ((left, right), (right, left)):
            if isinstance(times, int) and not isinstance(seq, int | float):
                size = _weight(seq, limits.max_value + 1) * max(times, 0)
                if size > limits.max_value:
                    raise _too_big("the repeated value", size, limits.max_value)
        if isinstance(left, int) and isinstance(right, int):
            bits = left.bit_length() + right.bit_length()
            if bits > limits.max_int_bits:
                raise RenderLimitError(
                    f"the product would be a number of about {bits:,} bits, "
                    f"larger than the limit of {limits.max_int_bits} bits"
                )
    elif operator == "%" and isinstance(left, str):
        _check_printf(left, right)
    elif operator == "+" and not isinstance(left, int | float):
        size = _weight(left, limits.max_value + 1) + _weight(right, limits.max_value + 1)
        if size > limits.max_value:
            raise _too_big("the joined value", size, limits.max_value)


# ----------------------------------------------------------------------------------------- str methods

# What a template may call on a string; the others either mutate nothing useful or can multiply a value
# (`expandtabs`, `center` with a huge width); `format` is checked by `wrap_str_format`.
_STR_METHODS = frozenset(
    {
        "capitalize", "casefold", "count", "endswith", "find", "format", "format_map", "index", "isalnum",
        "isalpha", "isdecimal", "isdigit", "islower", "isnumeric", "isspace", "istitle", "isupper", "join",
        "lower", "lstrip", "partition", "removeprefix", "removesuffix", "replace", "rfind", "rindex",
        "rpartition", "rsplit", "rstrip", "split", "splitlines", "startswith", "strip", "swapcase", "title",
        "upper", "ljust", "rjust", "center", "zfill",
    }
)  # fmt: skip


def _replaced_size(text: str, old: object, new: object, count: object = -1) -> int:
    if not isinstance(old, str) or not isinstance(new, str):
        return len(text)
    hits = len(text) + 1 if old == "" else text.count(old)
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    return len(text) + hits * max(len(new) - len(old), 0)


def _joined_size(separator: str, items: object) -> int:
    cap = _budget().limits.max_value + 1
    if not isinstance(items, list | tuple | set | frozenset | dict | str):
        return 0  # a generator: the result is weighed after
    return _weight(items, cap) + len(separator) * len(items)


def _check_str_call(
    method: Callable[..., Any], owner: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    name = method.__name__
    if name not in _STR_METHODS:
        raise RenderLimitError(f"the string method '{name}' is not allowed in templates")
    limit = _budget().limits.max_value
    if name == "replace" and len(args) >= 2:
        size = _replaced_size(owner, *args[:3])
        if size > limit:
            raise _too_big("the replaced text", size, limit)
    if name == "join" and args:
        size = _joined_size(owner, args[0])
        if size > limit:
            raise _too_big("the joined text", size, limit)


# -------------------------------------------------------------------------------------------- filters


def _filter_precheck(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    limit = _budget().limits.max_value
    values = list(args) + list(kwargs.values())
    if name == "replace" and len(values) >= 3:
        text = values[0]
        if isinstance(text, str):
            size = _replaced_size(text, *values[1:4])
            if size > limit:
                raise _too_big("the replaced text", size, limit)
    elif name == "join" and values:
        separator = values[1] if len(values) > 1 and isinstance(values[1], str) else ""
        size = _joined_size(separator, values[0])
        if size > limit:
            raise _too_big("the joined text", size, limit)
    elif name == "indent" and values and isinstance(values[0], str):
        width = values[1] if len(values) > 1 else 4
        width = len(width) if isinstance(width, str) else width
        if isinstance(width, int):
            size = len(values[0]) + (values[0].count("\n") + 1) * width
            if size > limit:
                raise _too_big("the indented text", size, limit)
    elif name == "format" and values and isinstance(values[0], str):
        _check_printf(values[0], tuple(values[1:]))


def _guard_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    # Filters marked pass_context/pass_eval_context/pass_environment get that object first: skip it.
    passes = getattr(func, "jinja_pass_arg", None)

    @functools.wraps(func)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        _budget().tick()
        plain = args[1:] if passes is not None else args
        _check_args(plain[:1], numbers=False)  # the value filtered: an amount of money may be large
        _check_args(plain[1:])
        _check_args(kwargs.values())
        _filter_precheck(name, plain, kwargs)
        return _admit(func(*args, **kwargs))

    return guarded


def _count_loop(iterable: Any) -> Iterator[Any]:
    budget = _budget()
    if isinstance(iterable, jinja2.Undefined):
        iterable._fail_with_undefined_error()
    for item in iterable:
        budget.iterations += 1
        if budget.iterations > budget.limits.max_iterations:
            raise RenderLimitError(f"loops ran more than {budget.limits.max_iterations:,} times in all")
        budget.tick()
        yield item


def _count_output(value: Any) -> Any:
    budget = _budget()
    budget.tick()
    size = _weight(value, budget.limits.max_output + 1)
    budget.written += size
    if size > budget.limits.max_output or budget.written > budget.limits.max_output * 10:
        raise RenderLimitError(
            f"the text would be longer than the limit of {budget.limits.max_output:,} characters"
        )
    return value


def _weigh_part(value: Any) -> Any:
    limit = _budget().limits.max_value
    size = _weight(value, limit + 1)
    if size > limit:
        raise _too_big("a part of the text", size, limit)
    return value


_LOOP, _OUTPUT, _PART = "bounded_loop", "bounded_output", "bounded_part"
# Globals that only make text (lipsum) or have nothing to offer messages.
_DROPPED_GLOBALS = ("lipsum",)
# Filters that run long in pure Python on one admissible value (textwrap takes seconds over 200 000
# characters with width 1; pformat walks any structure) and that no message needs.
_DROPPED_FILTERS = ("wordwrap", "pprint")


def _wrap(node: nodes.Expr, name: str) -> nodes.Filter:
    return nodes.Filter(node, name, [], [], None, None, lineno=node.lineno)


class BoundedEnvironment(ImmutableSandboxedEnvironment):
    """The immutable sandbox plus the limits above, applied to every template it compiles."""

    intercepted_binops = frozenset({"**", "*", "%", "+", "-", "/", "//"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        for name in _DROPPED_GLOBALS:
            self.globals.pop(name, None)
        for name in _DROPPED_FILTERS:
            self.filters.pop(name, None)
        self.filters[_LOOP] = _count_loop
        self.filters[_OUTPUT] = _count_output
        self.filters[_PART] = _weigh_part

    def add_filters(self, filters: dict[str, Callable[..., Any]]) -> None:
        """Install filters guarded like the built-in ones."""
        self.filters.update(filters)
        self.guard_filters()

    def guard_filters(self) -> None:
        for name, func in list(self.filters.items()):
            if name in (_LOOP, _OUTPUT, _PART) or getattr(func, "_bounded", False):
                continue
            guarded = _guard_filter(name, func)
            guarded._bounded = True  # type: ignore[attr-defined]
            self.filters[name] = guarded

    def call_binop(self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any) -> Any:
        _budget().tick()
        _check_binop(operator, left, right)
        return _admit(self.binop_table[operator](left, right))

    def call(__self, __context: jinja2.runtime.Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _budget().tick()
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str) and isinstance(__obj, types.BuiltinMethodType):
            _check_str_call(__obj, owner, args, kwargs)
        elif isinstance(__obj, types.BuiltinMethodType | types.BuiltinFunctionType):
            _check_args(args)
            _check_args(kwargs.values())
        return _admit(super().call(__context, __obj, *args, **kwargs))

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        if not isinstance(value, types.BuiltinMethodType | types.MethodType):
            return None  # every attribute read comes here: the common case first
        wrapper = super().wrap_str_format(value)
        if wrapper is None:
            return None
        fmt = str(value.__self__)
        is_map = value.__name__ == "format_map"

        def checked(*args: Any, **kwargs: Any) -> str:
            mapping = args[0] if is_map and args and isinstance(args[0], dict) else {}
            _check_str_format(fmt, () if is_map else args, {**kwargs, **mapping})
            return str(_admit(wrapper(*args, **kwargs)))

        return checked

    def _generate(
        self, source: nodes.Template, name: str | None, filename: str | None, defer_init: bool = False
    ) -> str:
        _bound_tree(source)
        return super()._generate(source, name, filename, defer_init=defer_init)


def _bound_tree(tree: nodes.Template) -> None:
    """Route every loop, output and `~` part of a parsed template through the counting filters."""
    for loop in list(tree.find_all(nodes.For)):
        if loop.recursive:
            raise jinja2.TemplateSyntaxError("recursive loops are not allowed in templates", loop.lineno)
        loop.iter = _wrap(loop.iter, _LOOP)  # type: ignore[arg-type]
    for output in list(tree.find_all(nodes.Output)):
        output.nodes = [_wrap(child, _OUTPUT) for child in output.nodes]
    for concat in list(tree.find_all(nodes.Concat)):
        concat.nodes = [_wrap(child, _PART) for child in concat.nodes]
