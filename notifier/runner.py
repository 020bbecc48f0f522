"""`notifier run`: the web app, the scheduler and the dispatcher in one event loop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI

from jobs import tasks
from jobs.scheduler import build_scheduler
from notifier.api import create_app
from notifier.bot.config import check as check_bot_config
from notifier.bot.lifespan import bot_lifespan
from notifier.service import Service

log = logging.getLogger("notifier")


async def serve(service: Service, host: str, port: int) -> None:
    service.migrate()
    service.dispatcher  # noqa: B018 - validates routing before anything starts
    check_bot_config(service.settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        scheduler = build_scheduler(service)
        # Run the first scan and dispatch at once rather than an interval later.
        scanned = await tasks.scan(service)
        stats = await tasks.dispatch(service)
        scheduler.start()
        log.warning("notifier running on http://%s:%s", host, port)
        log.warning("%s", startup_summary(service, scanned.total, stats.sent))
        try:
            # The citizen chatbot, when [channels.telegram] has a token: polling, or this app's webhook.
            async with bot_lifespan(service, _app):
                yield
        finally:
            scheduler.shutdown(wait=True)
            await service.aclose()

    app = create_app(service, lifespan=lifespan)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    await server.serve()
    await asyncio.sleep(0)


def startup_summary(service: Service, queued: int, sent: int) -> str:
    """What the first scan and dispatch did, and what waits for quiet or working hours (and until when),
    so an operator starting at night knows why the outbox is still empty."""
    from sqlalchemy import func, select

    from notifier.models import Notification

    now = service.clock.now()
    with service.factory() as session:
        waiting = session.execute(
            select(Notification.audience, func.count(), func.min(Notification.not_before))
            .where(Notification.status == "queued", Notification.not_before > now)
            .group_by(Notification.audience)
        ).all()
    parts = [f"first scan queued {queued}, sent {sent}"]
    for audience, count, until in sorted(waiting):
        parts.append(f"{count} for {audience} held until {until:%H:%M %d/%m/%Y} (quiet or working hours)")
    return "; ".join(parts)
