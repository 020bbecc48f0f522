"""The full `notifier` command: the interface commands of `notifier.cli` plus the ones that start the
long-running processes (run, worker, scheduler, dispatch, bot), which need the scheduler wiring here.

This is the console script (`notifier = "jobs.cli:app"`) and `python -m jobs`."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import gc
import logging
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Annotated, Any

import typer

from notifier.bot.config import BotConfigError
from notifier.cli.common import NowOpt, check_database, fail, open_service, out, shown_database
from notifier.cli.main import app

# The scheduler, the dispatcher and the web app are imported by the commands that run them: with them
# came nearly every module of notifier, which `notifier --help` and the other commands did not need.
if TYPE_CHECKING:
    from notifier.workflows.service import Service

__all__ = ["app"]

log = logging.getLogger("notifier")


@app.command()
def scheduler(now: NowOpt = None) -> None:
    """Scans only (and the retention purge), on the configured intervals; run one or several."""
    from jobs.scheduler import build_scheduler

    service = open_service(now, database="later")  # waits for the database (an outage, or before it migrates)

    async def go() -> None:
        sched = build_scheduler(service, dispatch=False)  # the first scan runs at once, retried if it fails
        try:
            log.warning("notifier scheduler started on database %s", shown_database(service))
            await _schema_ready(service)
            sched.start()
            await asyncio.Event().wait()
        finally:
            await sched.stop(service.settings.dispatch.stop_grace_seconds)  # a scan in progress finishes
            await service.aclose()

    run_until_stopped(go)


@app.command()
def worker(now: NowOpt = None) -> None:
    """Dispatcher only: claims and sends due notifications; run as many as the database allows."""
    _dispatch(now, once=False, command="worker")


@app.command()
def dispatch(now: NowOpt = None, once: Annotated[bool, typer.Option("--once")] = False) -> None:
    """Send what is due. --once sends everything due now and exits; otherwise keeps going."""
    _dispatch(now, once, command="dispatch")


def _dispatch(now: str | None, once: bool, command: str) -> None:
    from notifier.outbox.dispatch import RoutingError

    service = open_service(now, database="later")
    try:
        service.dispatcher  # noqa: B018 - routing and channel tables checked before anything starts
    except RoutingError as exc:
        raise fail(_in_config(service, exc), 2) from exc
    if once:  # a one-off ends at once on a database it cannot use; the worker waits for it
        check_database(service)
    settle_heap()
    grace = service.settings.dispatch.stop_grace_seconds

    async def go() -> None:
        try:
            if once:
                service.dispatcher.reclaim_expired()
                # Shielded: a stop signal ends the drain through Dispatcher.stop (what is on the wire is
                # recorded, the rest goes back to the queue, a batch past the grace is cancelled), and its
                # figures are still printed.
                draining = asyncio.ensure_future(service.dispatcher.drain())
                try:
                    stats = await asyncio.shield(draining)
                except asyncio.CancelledError:
                    await service.dispatcher.stop(grace)
                    stats = await draining
                out.print(
                    f"claimed {stats.claimed}, sent {stats.sent}, retry {stats.retried}, "
                    f"failed {stats.failed}, unreachable {stats.unreachable}, deferred {stats.deferred}"
                )
            else:
                # Imported here: the scheduler's tasks bring in the chatbot's conversations, Zalo OA and
                # APScheduler, which `dispatch --once` does not use.
                from jobs.scheduler import build_scheduler

                # the first drain and reclaim run at once in the scheduler: an outage fails a run, not
                # the worker, and a killed worker's rows are reclaimed from the start
                sched = build_scheduler(service, scans=False)
                log.warning(
                    "notifier %s started on database %s; routing %s",
                    command,
                    shown_database(service),
                    _routing(service),
                )
                await _schema_ready(service)
                sched.start()
                try:
                    await asyncio.Event().wait()
                finally:
                    # Before the channels close: the sends on the wire are answered and recorded first.
                    await sched.stop(grace, service.dispatcher)
        finally:
            await service.aclose()

    run_until_stopped(go)


@app.command()
def run(now: NowOpt = None, host: str | None = None, port: int | None = None) -> None:
    """Web API, scheduler and dispatcher in one process; Ctrl-C stops cleanly."""
    from jobs.processes import serve  # the web app and the bot load only for the commands that run them
    from notifier.outbox.dispatch import RoutingError

    service = open_service(now, database="later")  # waits for the database and migrates it (serve)
    # uvicorn takes SIGTERM and SIGINT while it serves: its shutdown runs the app's lifespan, which stops the
    # dispatcher (see serve), and then it raises the signal again to end the process the default way. For
    # SIGTERM that is death by the signal, after the clean stop: here it ends the process as Ctrl-C does.
    # (Not run_until_stopped: the event loop's handlers would see the signal too, and cancel the lifespan.)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        api = service.settings.api
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve(service, host or api.host, port or api.port))
    except (BotConfigError, RoutingError) as exc:
        raise fail(_in_config(service, exc), 2) from exc


@app.command()
def bot(now: NowOpt = None, host: str | None = None, port: int | None = None) -> None:
    """The citizen chatbot alone: long polling, or the webhook route when \\[bot] webhook_url is set."""
    from jobs.processes import run_bot

    service = open_service(now, database="later")  # waits for the database and migrates it (run_bot)
    try:
        api = service.settings.api
        run_until_stopped(lambda: run_bot(service, host or api.host, port or api.port))
    except BotConfigError as exc:
        raise fail(_in_config(service, exc), 2) from exc


def _routing(service: Service) -> str:
    """The routes for the start-up line: "citizen: esms, zalo; officer: email; head: email; 2 rules"."""
    routing = service.settings.routing
    parts = [f"{a}: {', '.join(routing.for_audience(a)) or 'none'}" for a in ("citizen", "officer", "head")]
    if routing.rules:
        parts.append(f"{len(routing.rules)} rule{'s' if len(routing.rules) > 1 else ''}")
    return "; ".join(parts)


async def _schema_ready(service: Service) -> None:
    """Wait until the database answers with this version's schema: another process (`notifier run`, `db
    upgrade`) may be migrating it. `run` and `bot` migrate it themselves instead."""
    from jobs.tasks import outage_of
    from notifier.store.outage import check_schema

    await outage_of(service).wait_for(lambda: check_schema(service.engine))


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run_until_stopped(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """`asyncio.run(main())` for a long-running command, which SIGTERM and SIGHUP stop as Ctrl-C does.

    systemd, `docker stop` and Kubernetes stop a service with SIGTERM, whose default ends the process at
    once: sends on the wire never recorded, rows left leased. So does SIGHUP's, which a command started from
    a terminal gets when the terminal goes (an operator's SSH session dropped). Here the first SIGTERM,
    SIGHUP or SIGINT cancels `main`, whose `finally` blocks wind down (Dispatcher.stop and the channels
    closed), and the command exits 0. A second Ctrl-C interrupts that wind-down. A SIGINT or SIGHUP that was
    ignored when the process started (a shell's background job, `nohup`) stays ignored, as for any Unix
    program.
    """

    stopping: list[int] = []

    async def guarded() -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None

        def on_signal(signum: int) -> None:
            if stopping:
                if signum == signal.SIGINT:
                    raise KeyboardInterrupt  # out of the event loop: the operator insists
                return
            stopping.append(signum)
            task.cancel()

        wanted = [signal.SIGTERM]
        wanted += [s for s in (signal.SIGINT, signal.SIGHUP) if signal.getsignal(s) is not signal.SIG_IGN]
        for signum in wanted:
            loop.add_signal_handler(signum, on_signal, signum)
        try:
            await main()
        except asyncio.CancelledError:
            if not stopping:
                raise
            task.uncancel()
        finally:
            for signum in wanted:
                loop.remove_signal_handler(signum)

    try:
        asyncio.run(guarded())
    except asyncio.CancelledError:
        if not stopping:
            raise
        # The signal came as `main` returned: its cancel landed on a task with nothing left to wind down.
    except KeyboardInterrupt:
        pass


def settle_heap() -> None:
    """Leave what start-up built (modules, settings, compiled templates) out of garbage collection, and
    collect the young generation less often: a batch makes thousands of short-lived objects, and each
    full collection walked the whole start-up heap again (about a quarter of planning's CPU, measured
    with benchmarks.dispatch). Cycles are still collected, later."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


@atexit.register
def leave_without_collecting() -> None:
    """At exit: close the database connections, then spare the interpreter its last garbage collection, which
    walked and freed the whole heap (the libraries, settings, compiled templates; aiogram's models when the
    bot ran) only for the process to end: 0.8 s of every command's exit on this 2-core machine, 2 s with the
    bot. Nothing needs it: the connections are closed here, logging flushes in its own exit hook, standard
    output is flushed by the interpreter, and the files we write are closed as they are written."""
    engine = sys.modules.get("notifier.store.engine")  # not imported: no engine, and nothing to close
    if engine is not None:
        engine.dispose_all()
    gc.freeze()


def _in_config(service: Service, exc: Exception) -> str:
    """A routing, channel-table or bot setting error, prefixed with the config file it was read from."""
    return f"{service.settings.source}: {exc}"


if __name__ == "__main__":
    app()
