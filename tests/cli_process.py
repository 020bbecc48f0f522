"""The `notifier` command in a process of its own, as an operator runs it, without a new interpreter each time.

A fresh `python -m jobs` spends over a second importing its libraries before it does anything, and the
command-line tests run it many times. Here the test process forks instead. The child:
- forgets every module of `notifier` and `jobs`, so they are imported afresh and read the child's
  environment and working directory as a new process's would;
- puts fds 0, 1 and 2 on /dev/null and two pipes, with new `sys.stdin`, `sys.stdout` and `sys.stderr`;
- resets logging, the warning filters and the event loop to a new interpreter's;
- runs `jobs` as `__main__` with the given arguments and exits with the command's status.
The parent reads both pipes and returns what `subprocess.run(..., capture_output=True, text=True)` would.
What the child shares with the parent is only the third-party libraries already imported (SQLAlchemy,
pydantic, typer, ...), which keep no state of the command's.

`NOTIFIER_TEST_CLI=spawn` runs `python -m jobs` in a new interpreter instead, for every call.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import runpy
import selectors
import subprocess
import sys
import time
import traceback
import warnings
from collections.abc import Mapping
from pathlib import Path

OURS = ("notifier", "jobs")


def notifier_env(**extra: str) -> dict[str, str]:
    """The test process's environment without its NOTIFIER_* settings, wide enough that rich never wraps."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("NOTIFIER_")}
    env["COLUMNS"] = "200"
    env.update(extra)
    return env


def run_notifier(
    cwd: Path, *args: str, env: Mapping[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`notifier ARGS` run in `cwd` with `env` (default: `notifier_env()`), to completion."""
    env = dict(notifier_env() if env is None else env)
    command = [sys.executable, "-m", "jobs", *args]
    if os.environ.get("NOTIFIER_TEST_CLI") == "spawn":
        return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    # The child must not collect (and so finalise) the parent's garbage, e.g. a database connection whose
    # finaliser would say goodbye to the server on the parent's behalf.
    gc.freeze()
    try:
        pid = os.fork()
    finally:
        gc.unfreeze()
    if pid == 0:  # pragma: no cover - the child; it leaves only through os._exit
        os.close(out_r)
        os.close(err_r)
        _child(cwd, list(args), env, out_w, err_w)
    os.close(out_w)
    os.close(err_w)
    try:
        out, err = _read(pid, out_r, err_r, timeout, command)
    finally:
        os.close(out_r)
        os.close(err_r)
    _, status = os.waitpid(pid, 0)
    return subprocess.CompletedProcess(
        command, os.waitstatus_to_exitcode(status), out.decode("utf-8"), err.decode("utf-8")
    )


def _read(pid: int, out_r: int, err_r: int, timeout: float, command: list[str]) -> tuple[bytes, bytes]:
    chunks: dict[int, list[bytes]] = {out_r: [], err_r: []}
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        for fd in chunks:
            sel.register(fd, selectors.EVENT_READ)
        while sel.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                raise subprocess.TimeoutExpired(command, timeout)
            for key, _ in sel.select(left):
                data = os.read(key.fd, 65536)
                if data:
                    chunks[key.fd].append(data)
                else:
                    sel.unregister(key.fd)
    return b"".join(chunks[out_r]), b"".join(chunks[err_r])


def _child(
    cwd: Path, args: list[str], env: dict[str, str], out_w: int, err_w: int
) -> None:  # pragma: no cover
    code = 1
    try:
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        for fd in (null, out_w, err_w):
            os.close(fd)
        # What a new interpreter with a pipe for stdout has: UTF-8, block-buffered out, line-buffered err.
        sys.stdin = os.fdopen(0, "r", encoding="utf-8", closefd=False)
        sys.stdout = os.fdopen(1, "w", encoding="utf-8", closefd=False)
        sys.stderr = os.fdopen(
            2, "w", encoding="utf-8", errors="backslashreplace", buffering=1, closefd=False
        )
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(env)
        for name in [m for m in sys.modules if m.split(".", 1)[0] in OURS]:
            del sys.modules[name]
        sys.path.insert(0, str(cwd))  # `python -m` puts the working directory first
        _fresh_interpreter_state()
        sys.argv = ["-m", *args]
        runpy.run_module("jobs", run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exc:
        if exc.code is None:
            code = 0
        elif isinstance(exc.code, int):
            code = exc.code
        else:
            print(exc.code, file=sys.stderr)
            code = 1
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        try:
            for handler in logging.root.handlers:
                handler.flush()
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _fresh_interpreter_state() -> None:  # pragma: no cover - runs in the child
    """Logging, warnings and asyncio as a new interpreter starts with (pytest changes all three)."""
    logging.disable(logging.NOTSET)
    for logger in [logging.root, *logging.Logger.manager.loggerDict.values()]:
        if isinstance(logger, logging.Logger):
            logger.handlers.clear()
            logger.setLevel(logging.WARNING if logger is logging.root else logging.NOTSET)
            logger.propagate = True
            logger.disabled = False
    warnings.resetwarnings()
    warnings.filterwarnings("default", category=DeprecationWarning, module="__main__")
    for category in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning):
        warnings.simplefilter("ignore", category, append=True)
    warnings.showwarning = _show_warning  # pytest records them; a new interpreter prints them
    asyncio.events._set_running_loop(None)  # a test may have forked from inside its event loop
    asyncio.set_event_loop_policy(None)


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: object = None,
    line: str | None = None,
) -> None:  # pragma: no cover - runs in the child
    sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))
