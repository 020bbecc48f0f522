"""The editor's checks run in a child process killed at a deadline (notifier.web.admin.isolated)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from notifier.rules.clock import VN_TZ
from notifier.rules.rendering import RenderLimits, sample_context
from notifier.web.admin.isolated import IsolatedFailure, check_isolated, preview_isolated, run_isolated

NOW = datetime(2027, 2, 3, 9, 0, tzinfo=VN_TZ)
SLOW = "{% macro f(n) %}{% if n %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(60) }}"


def test_a_child_that_does_not_answer_is_killed_at_the_deadline() -> None:
    with pytest.raises(IsolatedFailure) as caught:
        run_isolated(time.sleep, 60, timeout=0.5)
    assert caught.value.timed_out


def test_a_child_that_dies_is_reported_not_awaited() -> None:
    with pytest.raises(IsolatedFailure) as caught:
        run_isolated(os._exit, 3, timeout=30)
    assert not caught.value.timed_out


def test_a_child_cannot_take_the_machine_s_memory() -> None:
    with pytest.raises(MemoryError):
        run_isolated(bytearray, 8 * 1024**3, timeout=30)


def test_results_and_errors_come_back_as_from_a_call() -> None:
    assert run_isolated(divmod, 7, 2, timeout=30) == (3, 1)
    with pytest.raises(ZeroDivisionError):
        run_isolated(divmod, 7, 0, timeout=30)


def test_a_preview_past_the_deadline_is_refused_in_vietnamese() -> None:
    # Limits generous on purpose: the child's deadline is what stops it here.
    context = sample_context(NOW, "received")
    preview = preview_isolated(
        SLOW, None, "received", "sms", context, 500, limits=RenderLimits(seconds=30), timeout=1
    )
    assert preview.text is None
    [problem] = preview.problems
    assert problem.message.startswith("mẫu bị dừng vì chạy quá 1 giây")
    problems = check_isolated(SLOW, None, "received", "sms", limits=RenderLimits(seconds=30), timeout=1)
    assert [p.message for p in problems] == [problem.message]


def test_an_ordinary_preview_comes_back_whole() -> None:
    context = sample_context(NOW, "received")
    preview = preview_isolated(
        "Hồ sơ {{ dossier.code }}", None, "received", "sms", context, 500, limits=RenderLimits(), timeout=30
    )
    assert preview.problems == [] and preview.text == "Hồ sơ 000.00.30.H26-270203-0012"
    assert preview.sms is not None and preview.sms.segments == 1


def test_the_children_start_from_the_renderer_alone() -> None:
    """The forkserver imports `isolated` (with the renderer) before it forks each child; importing the
    admin page's package must not bring the web stack along: it cost each child 70 MB and the server's
    start a second."""
    found = subprocess.run(
        [sys.executable, "-c", "import sys, notifier.web.admin.isolated; print(' '.join(sorted(sys.modules)))"],
        capture_output=True, text=True, check=True,
    ).stdout.split()
    assert "notifier.web.admin.preview" in found
    assert not [m for m in found if m.split(".")[0] in ("fastapi", "starlette", "sqlalchemy", "httpx")]
    assert not [m for m in found if m.startswith(("notifier.web.admin.app", "notifier.store", "notifier.outbox"))]


# A module that writes down each process that imports it.
COUNTED = """\
import os

with open("imports.log", "a") as log:
    log.write(f"{os.getpid()}\\n")
"""

SCRIPT = """\
import counted  # like the console script's `from jobs.cli import app`
from notifier.web.admin.isolated import run_isolated

if __name__ == "__main__":
    for _ in range(3):
        assert run_isolated(divmod, 7, 2, timeout=30) == (3, 1)
"""


def test_a_script_s_imports_are_made_once_in_the_forkserver_not_in_each_child(tmp_path: Path) -> None:
    """Every child runs the main script again (multiprocessing's way); its imports are found loaded there
    when the forkserver made them first (`preloaded`), as for the `notifier` console script."""
    (tmp_path / "counted.py").write_text(COUNTED)
    (tmp_path / "script.py").write_text(SCRIPT)
    subprocess.run([sys.executable, "script.py"], cwd=tmp_path, check=True, timeout=120)
    pids = (tmp_path / "imports.log").read_text().split()
    assert len(pids) == 2, pids  # the script's process and the forkserver, none of the three children
