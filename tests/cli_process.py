"""The `notifier` command in a process of its own, as an operator runs it, without a new interpreter each time.

A fresh `python -m jobs` spends over a second importing `notifier` and its libraries before it does anything,
and the command-line tests run it many times. Here each test process starts one new interpreter, the
zygote (this file run as a script), which imports what `python -m jobs` imports for nearly every command
(`PRELOAD`), and then forks one child per command. The child:
- puts fds 0, 1 and 2 on /dev/null and the two pipes the test process sent, with new `sys.stdin`,
  `sys.stdout` and `sys.stderr`;
- moves to the command's working directory, puts it first on `sys.path` as `python -m` does, and
  replaces the whole environment with the command's;
- runs `jobs` as `__main__` with the given arguments and exits with the command's status.
The test process reads both pipes and returns what `subprocess.run(..., capture_output=True, text=True)`
would.

This equals a new interpreter only while what importing `PRELOAD` read is the same for the command:
- environment variables: the zygote records each one read meanwhile, by anything (pydantic reads its
  plugin switch at each model class), and a command whose environment differs in one of them, or in one
  the interpreter reads as it starts (PYTHONPATH, PYTHON*, the locale), runs in a new interpreter instead;
- working directory and terminal: the zygote's are not the command's, so code of ours must read neither
  at import (tests/test_cli.py checks it; the rich consoles of notifier.cli.common are set up on first use).
The zygote itself is a new interpreter started with the tests' `notifier_env()` in "/", so pytest's
logging, warning filters, event loop and imported test modules never reach a command. Unlike a new
interpreter, the children of one zygote share its hash seed (as they shared the test process's before).

`NOTIFIER_TEST_CLI=spawn` runs `python -m jobs` in a new interpreter instead, for every call.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import runpy
import selectors
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path

# What `python -m jobs` imports: jobs.cli (jobs/__main__.py) before it looks at the command's arguments, and
# the service, which nearly every command imports as it begins (jobs.cli leaves it to the command, so that
# `notifier --help` starts without it). Importing the service in the zygote instead of in each child is the
# same while its import reads nothing the command differs in, which the same guard and test cover. So are
# alembic's modules, which nearly every command imports to check the schema before it starts
# (notifier.cli.common.check_database): 80 ms a command otherwise.
PRELOAD = ("jobs.cli", "notifier.workflows.service", "alembic.runtime.migration", "alembic.script")


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
    with _lock:  # one command at a time per zygote; a second caller waits for the first
        zygote = _zygote()
        if not zygote.serves(env):
            return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        try:
            request = json.dumps({"cwd": str(cwd), "args": list(args), "env": env}).encode()
            try:
                socket.send_fds(zygote.sock, [request], [out_w, err_w])
            finally:
                os.close(out_w)  # the child has them now; ours must go, or the reads never end
                os.close(err_w)
            pid = json.loads(zygote.sock.recv(4096))["pid"]
            out, err = _read(lambda: os.kill(pid, 9), out_r, err_r, timeout, command)
            status = json.loads(zygote.sock.recv(4096))["status"]
        except BaseException:
            zygote.stop()  # it may be half-way through a request: the next call starts a new one
            raise
        finally:
            os.close(out_r)
            os.close(err_r)
    return subprocess.CompletedProcess(
        command, os.waitstatus_to_exitcode(status), out.decode("utf-8"), err.decode("utf-8")
    )


class _Zygote:
    def __init__(self) -> None:
        self.env = notifier_env()
        self.sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with theirs:
            self.process = subprocess.Popen(
                [sys.executable, __file__, str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                cwd="/",  # nothing may depend on it (tests/test_cli.py); a child moves to its command's
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
            )
        try:
            # the environment variables the import read (pydantic's plugin switch, locale, ...)
            self.sock.settimeout(120)
            self.read: list[str] = json.loads(self.sock.recv(1 << 20))["read"]
            self.sock.settimeout(None)
        except BaseException:
            self.stop()
            raise

    def serves(self, env: Mapping[str, str]) -> bool:
        """Whether a command with `env` sees what a new interpreter would: the zygote imported with its own
        environment, which must agree with `env` on each variable read meanwhile."""
        if "*" in self.read:
            return dict(env) == self.env
        # and on those the interpreter reads as it starts, before any Python code (PYTHONPATH, locale)
        started = {k for k in (*env, *self.env) if k.startswith("PYTHON")} | {"LC_ALL", "LC_CTYPE", "LANG"}
        return all(env.get(k) == self.env.get(k) for k in (*self.read, *started))

    def stop(self) -> None:
        """Close the socket (the zygote exits on end of file) and wait for it; kill it if it does not go."""
        self.sock.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        global _current
        if _current is self:
            _current = None


_lock = threading.Lock()
_current: _Zygote | None = None


def _zygote() -> _Zygote:
    """This test process's zygote, started on first use, stopped when the process exits."""
    global _current
    if _current is None or _current.process.poll() is not None:
        _current = _Zygote()
        atexit.register(_current.stop)
    return _current


def _read(
    kill: Callable[[], None], out_r: int, err_r: int, timeout: float, command: list[str]
) -> tuple[bytes, bytes]:
    chunks: dict[int, list[bytes]] = {out_r: [], err_r: []}
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        for fd in chunks:
            sel.register(fd, selectors.EVENT_READ)
        while sel.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                kill()
                raise subprocess.TimeoutExpired(command, timeout)
            for key, _ in sel.select(left):
                data = os.read(key.fd, 65536)
                if data:
                    chunks[key.fd].append(data)
                else:
                    sel.unregister(key.fd)
    return b"".join(chunks[out_r]), b"".join(chunks[err_r])


def preload() -> list[str]:
    """Import `PRELOAD` as `python -m jobs` would; the names of the environment variables read meanwhile, by
    anything ("*" when something read all of them). If the import fails, or warns (a new interpreter would
    print the warning on each command's stderr), forget what was imported of ours: each child then imports
    it and fails or warns itself, as a new interpreter does."""
    import warnings

    read: set[str] = set()
    environ = type(os.environ)

    class Recording(environ):  # type: ignore[valid-type, misc]
        def __getitem__(self, key: str) -> str:
            read.add(key)
            return super().__getitem__(key)  # type: ignore[no-any-return]

        def __iter__(self):  # type: ignore[no-untyped-def]
            read.add("*")
            return super().__iter__()

    os.environ.__class__ = Recording
    try:
        with warnings.catch_warnings(record=True) as caught:  # the filters stay a new interpreter's
            try:
                for name in PRELOAD:
                    __import__(name)
                failed = False
            except BaseException:
                failed = True
    finally:
        os.environ.__class__ = environ
    if failed or caught:
        for name in [m for m in sys.modules if m.split(".", 1)[0] in ("notifier", "jobs")]:
            del sys.modules[name]
    return sorted(read)


def _serve(sock: socket.socket) -> None:  # pragma: no cover - runs in the zygote
    """One command per request: fork, report the child's pid, wait for it, report its wait status."""
    while True:
        try:
            request, fds, _, _ = socket.recv_fds(sock, 1 << 20, 2)
        except ConnectionResetError:
            return
        if not request:
            return  # the test process closed its end, or exited
        pid = os.fork()
        if pid == 0:
            sock.close()
            _child(json.loads(request), fds)
        for fd in fds:
            os.close(fd)
        try:
            sock.send(json.dumps({"pid": pid}).encode())
            _, status = os.waitpid(pid, 0)
            sock.send(json.dumps({"status": status}).encode())
        except OSError:  # the test process gave up on the command (a timeout) and closed its end
            return


def _child(request: dict[str, object], fds: list[int]) -> None:  # pragma: no cover - a child of the zygote
    code = 1
    try:
        out_w, err_w = fds
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
        cwd = str(request["cwd"])
        os.chdir(cwd)
        env = request["env"]
        assert isinstance(env, dict)
        os.environ.clear()
        os.environ.update(env)
        sys.path[0] = cwd  # `python -m` puts the working directory first, where this script's folder is
        args = request["args"]
        assert isinstance(args, list)
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
            # What an interpreter runs as it exits, which os._exit skips: jobs.cli closes the database
            # connections there (SQLite checkpoints its WAL into the file), logging flushes its handlers.
            atexit._run_exitfuncs()
            for handler in logging.root.handlers:
                handler.flush()
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


if __name__ == "__main__":  # pragma: no cover - the zygote: `python tests/cli_process.py FD`
    sys.path[0] = os.getcwd()  # not the tests' folder: what `python -m jobs` started in "/" would have
    read = preload()
    sock = socket.socket(fileno=int(sys.argv[1]))
    sock.send(json.dumps({"read": read}).encode())
    _serve(sock)
