"""The editor's template checks and previews, run in a child process that is killed at a deadline.

The sandbox (notifier.rules.sandbox) already bounds every render in time and size, inside the process.
Agency users reach the editor directly, though, so its renders also run in a child process: whatever a
template finds that the sandbox did not foresee costs that child (killed after `[rendering]
preview_timeout_seconds`, its address space capped), never the `notifier run` process that answers
`/healthz`, the API and the dispatcher. A forkserver started once (with the renderer preloaded) makes a
child in milliseconds, without copying the web server's threads or sockets.
"""

from __future__ import annotations

import ast
import logging
import multiprocessing
import multiprocessing.forkserver
import resource
import sys
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.context import ForkServerContext
from pathlib import Path
from typing import Any, TypeVar

from notifier.rules.sandbox import RenderLimits
from notifier.web.admin.preview import Preview, Problem, build_preview, check

T = TypeVar("T")
log = logging.getLogger(__name__)

# Ample for a render under the sandbox's limits (a child starts at about 31 MB of address space).
MEMORY_BYTES = 2 * 1024**3

_lock = threading.Lock()
_context: ForkServerContext | None = None


class IsolatedFailure(Exception):
    """The child did not answer: killed at the deadline (`timed_out`), or it died on its own."""

    def __init__(self, message: str, *, timed_out: bool) -> None:
        super().__init__(message)
        self.timed_out = timed_out


def preloaded() -> list[str]:
    """What the forkserver imports once, before it forks the children: this module with the renderer (and
    nothing of the web page: `notifier.web.admin` imports nothing on its own), and what the process's main
    module imports.

    Each child runs the main module again (as `__mp_main__`: that is how multiprocessing rebuilds it; its
    own "__main__" preload never takes: the forkserver looks for a `main_path` key that
    `spawn.get_preparation_data` names `init_main_from_path`, CPython gh-98552). For the `notifier` console
    script that meant importing the whole command line in every child, 0.16 s a preview. The forkserver now
    makes the imports each child would make anyway, once, and running the script again finds them loaded.
    """
    names = [__name__]
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name.endswith("__main__"):
        return names  # `python -m PACKAGE` (`python -m jobs`): a package's __main__ is not run again
    # A script's file, or the module's of `python -m MODULE`; the module itself is not imported here (run
    # again in a child after that, it would warn that it was found imported before it ran).
    path = spec.origin if spec is not None else getattr(main, "__file__", None)
    if path is None:  # `python -c`, an interactive session: nothing to run again
        return names
    try:
        tree = ast.parse(Path(path).read_bytes())
    except (OSError, SyntaxError, ValueError):
        return names
    for node in tree.body:  # its top level: `import a.b`, `from a.b import c`
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module)
    return names


def _forkserver() -> ForkServerContext:
    global _context
    with _lock:
        if _context is None:
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(preloaded())
            _context = ctx
        return _context


def warm_up() -> None:
    """Start the forkserver in the background, so the first preview does not wait for its imports."""

    def start() -> None:
        try:
            _forkserver()
            multiprocessing.forkserver.ensure_running()
        except Exception as exc:  # a preview will try again, and report then
            log.warning("could not start the preview forkserver: %s", exc)

    threading.Thread(target=start, name="preview-forkserver", daemon=True).start()


def _child(conn: Connection, func: Callable[..., Any], args: tuple[Any, ...], memory: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    try:
        result: tuple[str, Any] = ("ok", func(*args))
    except Exception as exc:  # sent back and raised in the parent, like a call in-process
        result = ("error", exc)
    conn.send(result)
    conn.close()


def run_isolated(func: Callable[..., T], *args: Any, timeout: float, memory: int = MEMORY_BYTES) -> T:
    """`func(*args)` in a fresh child process; IsolatedFailure if it does not answer within `timeout` s.

    `func`, its arguments and its result cross a pipe, so they must be picklable (module-level functions,
    dataclasses, SimpleNamespace contexts).
    """
    ctx = _forkserver()
    receiver, sender = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_child, args=(sender, func, args, memory), daemon=True)
    process.start()
    sender.close()
    try:
        if not receiver.poll(timeout):
            raise IsolatedFailure(f"no answer within {timeout:g} s", timed_out=True)
        status, value = receiver.recv()
    except (EOFError, OSError) as exc:
        raise IsolatedFailure(
            f"the child process stopped ({exc.__class__.__name__})", timed_out=False
        ) from exc
    finally:
        if process.is_alive():
            process.kill()
        process.join(timeout=5)
        receiver.close()
    if status == "error":
        raise value
    return value  # type: ignore[no-any-return]


def refusal(failure: IsolatedFailure, timeout: float) -> Problem:
    """What the officer reads when the check was stopped: in Vietnamese, saying what to fix."""
    if failure.timed_out:
        message = (
            f"mẫu bị dừng vì chạy quá {timeout:g} giây (có phép tính, vòng lặp hoặc chuỗi quá lớn); "
            "hãy sửa mẫu rồi thử lại"
        )
    else:
        message = "mẫu làm tiến trình kiểm tra dừng đột ngột (có thể do dùng quá nhiều bộ nhớ); hãy sửa mẫu"
    return Problem("body", None, message)


def preview_isolated(
    body: str,
    subject: str | None,
    kind: str,
    channel_type: str,
    context: dict[str, Any],
    price_per_segment: int,
    *,
    limits: RenderLimits,
    timeout: float,
    syntax: str = "jinja",
) -> Preview:
    """`build_preview` in a child process: a template that does not finish gets a refusal, not a hang."""
    try:
        return run_isolated(
            build_preview,
            body,
            subject,
            kind,
            channel_type,
            context,
            price_per_segment,
            limits,
            syntax,
            timeout=timeout,
        )
    except IsolatedFailure as failure:
        return Preview(problems=[refusal(failure, timeout)])


def check_isolated(
    body: str,
    subject: str | None,
    kind: str,
    channel_type: str,
    *,
    limits: RenderLimits,
    timeout: float,
    syntax: str = "jinja",
) -> list[Problem]:
    """`check` (the save's validation) in a child process, like `preview_isolated`."""
    try:
        return run_isolated(check, body, subject, kind, channel_type, limits, syntax, timeout=timeout)
    except IsolatedFailure as failure:
        return [refusal(failure, timeout)]
