"""The long-running processes: `notifier run` (web app, scheduler and dispatcher in one event loop) and
`notifier bot` (the Telegram bot alone), and the web app they serve."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import uvicorn
from apscheduler.events import EVENT_JOB_EXECUTED, JobExecutionEvent
from fastapi import FastAPI

from jobs import tasks
from jobs.scheduler import build_scheduler
from notifier.bot.config import BotConfigError, connection, webhook_path
from notifier.bot.config import check as check_bot_config
from notifier.bot.lifespan import bot_lifespan
from notifier.bot.webhook import telegram_webhook_router
from notifier.rules import logmask
from notifier.web.api import create_app
from notifier.workflows.service import Service

log = logging.getLogger("notifier")


async def serve(service: Service, host: str, port: int) -> None:
    service.dispatcher  # noqa: B018 - validates routing before anything starts
    check_bot_config(service.settings)

    failed: list[BaseException] = []

    def stop_on_failure(task: asyncio.Task[None]) -> None:
        # Not an outage (that is waited for): a bad bot setting, a broken migration. The process ends
        # with it, as when these ran before the web app.
        if not task.cancelled() and task.exception() is not None:
            failed.append(task.exception())  # type: ignore[arg-type]
            server.should_exit = True

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # HTTP answers from the start: /healthz at once, the API 503 while the database is down. The
        # schema check, the scheduler and the chatbot wait for the database beside it (logged once); the
        # first scan, dispatch and reclaim then run at once in the scheduler, not before the web app.
        scheduler = build_scheduler(service)
        scheduler.add_listener(_first_round_summary(service), EVENT_JOB_EXECUTED)
        bot = AsyncExitStack()

        async def start_when_ready() -> None:
            await tasks.outage_of(service).wait_for(service.migrate)
            scheduler.start()
            # The citizen chatbot, when [channels.telegram] has a token: polling, or this app's webhook.
            await bot.enter_async_context(bot_lifespan(service, _app))

        starting = asyncio.create_task(start_when_ready())
        starting.add_done_callback(stop_on_failure)
        log.warning("notifier running on http://%s:%s", host, port)
        try:
            yield
        finally:
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):  # a failure is raised by serve()
                await starting
            await bot.aclose()
            # Before the channels close: the runs in progress finish, the sends on the wire are answered and
            # recorded, the rest goes back to the queue.
            await scheduler.stop(service.settings.dispatch.stop_grace_seconds, service.dispatcher)
            await service.aclose()

    app = build_app(service, lifespan=lifespan)
    server = web_server(app, host, port)
    with _hangup_stops(server):
        await server.serve()
    await asyncio.sleep(0)
    if failed:
        raise failed[0]


@contextlib.contextmanager
def _hangup_stops(server: uvicorn.Server) -> Iterator[None]:
    """SIGHUP (the terminal the command was started from went: an SSH session dropped) shuts the server
    down as SIGTERM does; uvicorn takes only SIGINT and SIGTERM, and SIGHUP's default ends the process at
    once. A SIGHUP ignored when the process started (`nohup`) stays ignored. Signals are the main thread's."""
    ignored = signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    if ignored or threading.current_thread() is not threading.main_thread():
        yield
        return

    def shut_down(signum: int, frame: object) -> None:
        server.should_exit = True  # the lifespan's shutdown stops the dispatcher, then serve() returns

    previous = signal.signal(signal.SIGHUP, shut_down)
    try:
        yield
    finally:
        signal.signal(signal.SIGHUP, previous)


def _first_round_summary(service: Service) -> Callable[[JobExecutionEvent], None]:
    """A scheduler listener that logs `startup_summary` once the first scan and dispatch have run."""
    first: dict[str, Any] = {}

    def listener(event: JobExecutionEvent) -> None:
        if event.job_id not in ("scan", "dispatch") or event.job_id in first or event.retval is None:
            return
        first[event.job_id] = event.retval
        if len(first) == 2:
            try:
                log.warning("%s", startup_summary(service, first["scan"].total, first["dispatch"].sent))
            except Exception as exc:  # the summary is a courtesy: an outage just now must not matter
                log.debug("no start-up summary: %s", exc)

    return listener


def web_server(app: Any, host: str, port: int) -> uvicorn.Server:
    """uvicorn serving `app`. Its Config sets up logging handlers of its own (the `uvicorn` loggers do not
    reach the root's): they get the masking filter too, or an unhandled error's traceback would print
    the phone numbers it quotes."""
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    logmask.install()
    return server


def build_app(service: Service, lifespan: Callable[[FastAPI], Any] | None = None) -> FastAPI:
    """The web app with the Telegram webhook route when the bot runs in webhook mode."""
    routers = []
    path = webhook_path(service.settings)
    if path is not None:
        routers.append(telegram_webhook_router(path))
    return create_app(service, lifespan=lifespan, routers=routers)


async def run_bot(service: Service, host: str, port: int) -> None:
    """`notifier bot`: the bot alone; in webhook mode with the web app serving only what it needs."""
    # The settings first: a bot that cannot run says so at once, before it waits for or migrates the database.
    if connection(service.settings) is None:
        raise BotConfigError("channels.telegram.token: value None: set it (or token_env) to run the bot")
    await tasks.outage_of(service).wait_for(service.migrate)
    from notifier.bot.runner import running  # aiogram is loaded only when the bot runs

    if webhook_path(service.settings) is None:
        async with running(service):
            await asyncio.Event().wait()
        return
    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        async with running(service, app):
            yield

    server = web_server(build_app(service, lifespan=lifespan), host, port)
    await server.serve()


def startup_summary(service: Service, queued: int, sent: int) -> str:
    """What the first scan and dispatch did, and what waits for quiet or working hours (and until when),
    so an operator starting at night knows why the outbox is still empty."""
    from sqlalchemy import func, select

    from notifier.rules.outbox_status import NotificationStatus
    from notifier.store.models import Notification

    now = service.clock.now()
    with service.factory() as session:
        waiting = session.execute(
            select(Notification.audience, func.count(), func.min(Notification.not_before))
            .where(Notification.status == NotificationStatus.QUEUED, Notification.not_before > now)
            .group_by(Notification.audience)
        ).all()
    parts = [f"first scan queued {queued}, sent {sent}"]
    for audience, count, until in sorted(waiting):
        parts.append(f"{count} for {audience} held until {until:%H:%M %d/%m/%Y} (quiet or working hours)")
    return "; ".join(parts)
