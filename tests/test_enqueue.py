"""One way into the outbox: `notifier.outbox.enqueue`.

A row made anywhere else could skip the dedupe key's ON CONFLICT, start in another status or with another
audience than its kind's. The code of `notifier/` and `jobs/` is read with `ast`: no other module builds a
`Notification(...)` or inserts into the notifications table. The admin editor's preview probe is the one
`Notification(...)` allowed: it is never added to a session, it only carries relationships to render.
"""

from __future__ import annotations

import ast
import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, literal, select

from notifier.outbox.enqueue import COLUMNS, NewNotification, enqueue, enqueue_select
from notifier.rules.kinds import Kind
from notifier.rules.payloads import FeedbackFacts, FeedbackPayload, parse_payload
from notifier.store.models import Notification
from notifier.workflows.service import Service

ROOT = Path(__file__).resolve().parents[1]
ENQUEUE = "notifier.outbox.enqueue"
# (module, function) where building a Notification is allowed: the editor's in-memory preview probe.
ALLOWED_CONSTRUCTIONS = {("notifier.web.admin.editor", "dossier_context")}
RAW_INSERT = re.compile(r"\binsert\s+into\s+\"?notifications\b", re.IGNORECASE)


def _name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _mentions(node: ast.AST, names: set[str]) -> bool:
    return any(isinstance(n, ast.Name) and n.id in names for n in ast.walk(node))


def outbox_writes(module: str, source: str) -> list[str]:
    """Where `source` builds a Notification or inserts into its table, as "module:line what"."""
    tree = ast.parse(source)
    model = {"Notification"}  # and any name it is imported as
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            model |= {a.asname for a in node.names if a.name == "Notification" and a.asname}
    # Names bound to the table (`table = Notification.__table__`) count as the model itself.
    tables = set(model)
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and _mentions(node.value, model):
            tables |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    found: list[str] = []

    def visit(node: ast.AST, function: str | None) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            function = node.name
        if isinstance(node, ast.Call):
            called = _name(node.func)
            if called in model and (module, function) not in ALLOWED_CONSTRUCTIONS:
                found.append(f"{module}:{node.lineno} builds a Notification in {function}()")
            if called in ("insert", "insert_into"):  # insert_into: notifier.store.engine's, per dialect
                target = node.func.value if isinstance(node.func, ast.Attribute) else None
                args = [*node.args, *(k.value for k in node.keywords)]
                if any(_mentions(a, tables) for a in args) or (
                    target is not None and _mentions(target, tables)
                ):
                    found.append(f"{module}:{node.lineno} inserts into notifications")
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and RAW_INSERT.search(node.value):
            found.append(f"{module}:{node.lineno} inserts into notifications in SQL text")
        for child in ast.iter_child_nodes(node):
            visit(child, function)

    visit(tree, None)
    return found


def _modules() -> dict[str, str]:
    found = {}
    for package in ("notifier", "jobs"):
        for path in sorted((ROOT / package).rglob("*.py")):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            found[name] = path.read_text(encoding="utf-8")
    return found


MODULES = _modules()


def test_only_enqueue_writes_new_outbox_rows() -> None:
    bad = [w for name, source in MODULES.items() if name != ENQUEUE for w in outbox_writes(name, source)]
    assert bad == []


def test_the_reader_sees_the_inserts_of_enqueue_itself() -> None:
    # Guards the test above: a reader that found nothing would pass it.
    assert len(outbox_writes(ENQUEUE, MODULES[ENQUEUE])) >= 2
    probe = outbox_writes("notifier.web.admin.editor", MODULES["notifier.web.admin.editor"])
    assert probe == []  # the probe is allowed by name, and nothing else there writes rows


@pytest.mark.parametrize(
    "source",
    [
        "def f(s):\n    s.add(Notification(kind='received'))",
        "from notifier.store import models\ndef f(s):\n    s.add_all([models.Notification()])",
        "def f(s):\n    s.execute(insert(Notification).values(kind='x'))",
        "def f(s):\n    s.execute(postgresql.insert(Notification.__table__).values(kind='x'))",
        "def f(s):\n    s.execute(insert_into(s, table_of(Notification)).values(kind='x'))",
        "def f(s):\n    table = Notification.__table__\n    s.execute(table.insert().values(kind='x'))",
        "def f(s):\n    s.execute(text('INSERT INTO notifications (kind) VALUES (1)'))",
        "from notifier.store.models import Notification as N\ndef f(s):\n    s.add(N(kind='x'))",
    ],
)
def test_the_reader_flags_each_way_of_writing_a_row(source: str) -> None:
    assert len(outbox_writes("notifier.workflows.probe", source)) == 1


def test_the_editor_probe_is_allowed_only_where_it_is() -> None:
    source = "def send_test(s):\n    s.add(Notification(kind='received'))"
    assert outbox_writes("notifier.web.admin.editor", source) != []


# ---------------------------------------------------------------------------------------- the behaviour


def _row(service: Service, key: str) -> Notification:
    with service.factory() as session:
        row = session.scalar(select(Notification).where(Notification.dedupe_key == key))
        assert row is not None
        session.expunge(row)
        return row


def test_enqueue_writes_one_row_by_the_outbox_rules(service: Service) -> None:
    now = service.clock.now()
    payload = FeedbackPayload(feedback=FeedbackFacts(id=3, text="Đề nghị trả lời sớm"), chat_id="777")
    with service.factory() as session, session.begin():
        first = enqueue(
            session, NewNotification("k:1", Kind.FEEDBACK_ANSWER, ref_at=now, payload=payload), now
        )
    assert first is not None
    row = _row(service, "k:1")
    assert (row.id, row.kind, row.audience, row.status, row.attempts) == (
        first,
        "feedback_answer",
        "citizen",
        "queued",
        0,
    )
    assert row.not_before == row.created_at == row.updated_at == now
    assert parse_payload(row.kind, row.payload) == payload


def test_enqueue_never_writes_a_key_twice(service: Service) -> None:
    now = service.clock.now()
    later = now + timedelta(hours=1)
    with service.factory() as session, session.begin():
        assert enqueue(session, NewNotification("k:2", Kind.ESCALATION, not_before=later), now) is not None
        assert enqueue(session, NewNotification("k:2", Kind.RECEIVED), now) is None
    row = _row(service, "k:2")
    # The first row stands as it was written; its audience is the kind's.
    assert (row.kind, row.audience, row.not_before) == ("escalation", "head", later)
    with service.factory() as session:
        assert session.scalar(select(func.count()).select_from(Notification)) == 1


def test_enqueue_select_counts_only_new_rows(service: Service) -> None:
    now = service.clock.now()

    def stmt(key: str):  # type: ignore[no-untyped-def]
        values = [key, "due_soon", "officer", None, None, None, "queued", now, 0, now, now]
        return select(*[literal(v) for v in values])

    assert len(COLUMNS) == 11
    with service.factory() as session, session.begin():
        assert enqueue_select(session, stmt("k:3")) == 1
        assert enqueue_select(session, stmt("k:3")) == 0
        assert enqueue(session, NewNotification("k:3", Kind.DUE_SOON), now) is None
    assert _row(service, "k:3").audience == "officer"
