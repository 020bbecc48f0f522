"""The floors of the house (README "Architecture"), checked on the code itself.

The import graph of `notifier/` and `jobs/` is read with `ast`, imports inside functions included. It must
have no cycle; no module may import a `_private` name of another module; a floor imports only floors
below it, and the interfaces (web, cli, bot) do not import each other.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("notifier", "jobs")

# Lowest first. A module belongs to the first floor whose prefix it starts with.
FLOORS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("package", ("notifier",)),  # notifier/__init__.py only
    ("rules", ("notifier.rules",)),
    ("config", ("notifier.config",)),
    ("store", ("notifier.store",)),
    ("channels", ("notifier.channels",)),
    ("outbox", ("notifier.outbox",)),
    ("workflows", ("notifier.workflows",)),
    ("web", ("notifier.web",)),
    ("cli", ("notifier.cli",)),
    ("bot", ("notifier.bot",)),
    ("jobs", ("jobs",)),
)
INTERFACES = frozenset({"web", "cli", "bot"})
RANK = {name: i for i, (name, _) in enumerate(FLOORS)}
# The interfaces stand side by side on one floor.
for _name in INTERFACES:
    RANK[_name] = RANK["web"]
RANK["jobs"] = RANK["web"] + 1


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    names: tuple[str, ...]
    line: int


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "versions" in path.parts:  # Alembic revisions are data, loaded by Alembic
                continue
            found[module_name(path)] = path
    return found


def _resolve(node: ast.ImportFrom, current: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = current.split(".")
    if not is_package:
        base = base[:-1]
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def edges(known: dict[str, Path]) -> Iterator[Edge]:
    for name, path in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):  # every import, also those inside functions
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] in PACKAGES:
                        yield Edge(name, alias.name, (), node.lineno)
            elif isinstance(node, ast.ImportFrom):
                target = _resolve(node, name, path.name == "__init__.py")
                if target.split(".")[0] not in PACKAGES:
                    continue
                names = tuple(a.name for a in node.names)
                # `from package import module` is an edge to the module itself.
                modules_named = [f"{target}.{n}" for n in names if f"{target}.{n}" in known]
                for m in modules_named:
                    yield Edge(name, m, (), node.lineno)
                rest = tuple(n for n in names if f"{target}.{n}" not in known)
                if rest or not modules_named:
                    yield Edge(name, target, rest, node.lineno)


def floor_of(module: str) -> str:
    best = ""
    best_len = -1
    for floor, prefixes in FLOORS:
        for prefix in prefixes:
            matches = module == prefix or module.startswith(prefix + ".")
            if matches and len(prefix) > best_len:
                best, best_len = floor, len(prefix)
    return best


KNOWN = modules()
EDGES = list(edges(KNOWN))


def test_the_graph_is_read() -> None:
    # Guards the test itself: a parser that found nothing would pass every check below.
    assert len(KNOWN) > 80
    assert any(e.source == "notifier.outbox.dispatch" and e.target.startswith("notifier.store") for e in EDGES)
    assert floor_of("notifier.outbox.scans.digests") == "outbox"
    assert floor_of("notifier.config") == "config"
    assert floor_of("notifier") == "package"


def test_no_import_cycles() -> None:
    graph: dict[str, set[str]] = {m: set() for m in KNOWN}
    for e in EDGES:
        if e.target in KNOWN and e.target != e.source:
            graph[e.source].add(e.target)
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert cycles == [], "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_no_private_names_imported_across_modules() -> None:
    bad = [
        f"{e.source}:{e.line} imports {name} from {e.target}"
        for e in EDGES
        for name in e.names
        if name.startswith("_") and not name.startswith("__") and e.target != e.source
    ]
    assert bad == []


def test_floors_import_only_floors_below() -> None:
    bad = []
    for e in EDGES:
        src, dst = floor_of(e.source), floor_of(e.target)
        if not dst or src == dst:
            continue
        if src in INTERFACES and dst in INTERFACES:
            bad.append(f"{e.source}:{e.line} ({src}) imports {e.target} ({dst}): interfaces do not import each other")
        elif RANK[dst] > RANK[src]:
            bad.append(f"{e.source}:{e.line} ({src}) imports {e.target} ({dst}), a floor above")
    assert bad == [], "\n".join(bad)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from notifier.outbox.dispatch import Dispatcher", ["notifier.outbox.dispatch"]),
        ("from notifier.rules import kinds", ["notifier.rules.kinds"]),
        ("import jobs.tasks", ["jobs.tasks"]),
        ("def f():\n    from notifier.web.api import create_app", ["notifier.web.api"]),
    ],
)
def test_the_reader_finds_each_form_of_import(tmp_path: Path, source: str, expected: list[str]) -> None:
    path = tmp_path / "probe.py"
    path.write_text(source, encoding="utf-8")
    found = [e.target for e in edges({"notifier.rules.probe": path, **KNOWN}) if e.source == "notifier.rules.probe"]
    assert found == expected
