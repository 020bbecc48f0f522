"""Every package that notifier's code imports is one that installing notifier brings.

`pip install notifier` (no extras) must give a working core: the API, the scans, the dispatcher with the
file channel, the callbacks. The providers' packages (aiogram, twilio, aiosmtplib) come with the
`providers` extra and only the modules of those providers may import them. An import that works here only
because the test environment happens to hold the package (aiohttp arrived through twilio and aiogram while
the core's callbacks used it) is found by reading the code, not by luck at run time.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.metadata as md
import re
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]

# The modules that talk to a provider through its own package; they are loaded only when a deployment
# configures that provider (entry points, `notifier bot`), and so may need the `providers` extra.
NEEDS_PROVIDERS = (
    "notifier/bot/",
    "notifier/channels/email.py",
    "notifier/channels/telegram.py",
    "notifier/channels/twilio_sms.py",
)


def normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def closure(requirements: list[str]) -> set[str]:
    """The distributions these requirements bring, theirs included (as installed here)."""
    seen: set[str] = set()
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue  # another package's own extra, or another platform
        if normal(req.name) in seen:
            continue
        seen.add(normal(req.name))
        # A declared package not installed here: the install step would have failed first.
        with contextlib.suppress(md.PackageNotFoundError):
            todo += [Requirement(r) for r in md.requires(req.name) or []]
    return seen


def optional(tree: ast.Module) -> set[int]:
    """Line numbers of imports inside `try: … except ImportError`: used when present, else done without."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Try):
            continue
        caught = {ast.unparse(h.type) for h in node.handlers if h.type is not None}
        if caught & {"ImportError", "ModuleNotFoundError"}:
            lines |= {
                n.lineno for b in node.body for n in ast.walk(b) if isinstance(n, ast.Import | ast.ImportFrom)
            }
    return lines


def third_party_imports(source: str) -> Iterator[tuple[int, str]]:
    tree = ast.parse(source)
    skip = optional(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if node.lineno in skip or top in sys.stdlib_module_names or top in ("notifier", "jobs"):
                continue
            yield node.lineno, top


def offenders(core: set[str], providers: set[str]) -> list[str]:
    shipped = md.packages_distributions()
    found: list[str] = []
    for path in sorted([*ROOT.joinpath("notifier").rglob("*.py"), *ROOT.joinpath("jobs").rglob("*.py")]):
        rel = path.relative_to(ROOT).as_posix()
        allowed = core | providers if rel.startswith(NEEDS_PROVIDERS) else core
        for line, top in third_party_imports(path.read_text(encoding="utf-8")):
            if not {normal(d) for d in shipped.get(top, [])} & allowed:
                found.append(f"{rel}:{line} imports {top}")
    return found


def test_every_import_comes_with_the_install_that_needs_it() -> None:
    core = closure(PROJECT["dependencies"])
    providers = closure(PROJECT["dependencies"] + PROJECT["optional-dependencies"]["providers"])
    assert offenders(core, providers) == []


def test_a_core_import_brought_only_by_the_providers_extra_is_found() -> None:
    # The state before aiohttp was declared: the providers' closure held it, the core's did not.
    core = closure([r for r in PROJECT["dependencies"] if not r.startswith("aiohttp")]) - {"aiohttp"}
    providers = closure(PROJECT["dependencies"] + PROJECT["optional-dependencies"]["providers"])
    found = offenders(core, providers)
    assert any(o.startswith("notifier/channels/http.py:") and o.endswith(" imports aiohttp") for o in found)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import aiohttp\n", [(1, "aiohttp")]),
        ("from twilio.rest import Client\n", [(1, "twilio")]),
        ("import json\nfrom notifier.rules import clock\n", []),
        ("def f():\n    import segno\n", [(2, "segno")]),
        ("try:\n    import matplotlib\nexcept ImportError:\n    pass\n", []),
        ("try:\n    import matplotlib\nexcept ValueError:\n    pass\n", [(2, "matplotlib")]),
    ],
)
def test_the_reader_sees_each_form_of_import(source: str, expected: list[tuple[int, str]]) -> None:
    assert list(third_party_imports(source)) == expected
