"""Scheduler wiring: one AsyncIOScheduler running the scan, dispatch and reclaim jobs."""

from __future__ import annotations

import logging

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from jobs import tasks
from notifier.rules.clock import VN_TZ
from notifier.workflows.service import Service


class _SkipOverlapNotice(logging.Filter):
    """A dispatch run still going when the next tick comes is by design (max_instances=1): not a warning."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances reached" not in record.getMessage()


logging.getLogger("apscheduler.scheduler").addFilter(_SkipOverlapNotice())


def build_scheduler(service: Service, *, scans: bool = True, dispatch: bool = True) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone=VN_TZ)
    # One instance of each at a time, and a missed run is merged, not replayed in a burst.
    common = {"max_instances": 1, "coalesce": True, "misfire_grace_time": 60}
    s = service.settings
    if scans:
        scheduler.add_job(
            tasks.scan,
            IntervalTrigger(seconds=s.scan.interval_seconds),
            args=[service],
            id="scan",
            name="scan dossiers",
            **common,
        )
        scheduler.add_job(
            tasks.purge,
            IntervalTrigger(hours=6),
            args=[service],
            id="purge",
            name="retention purge",
            **common,
        )
    if dispatch:
        scheduler.add_job(
            tasks.dispatch,
            IntervalTrigger(seconds=s.dispatch.interval_seconds),
            args=[service],
            id="dispatch",
            name="dispatch outbox",
            **common,
        )
        scheduler.add_job(
            tasks.callbacks,
            IntervalTrigger(seconds=s.callbacks.interval_seconds),
            args=[service],
            id="callbacks",
            name="callbacks to API keys",
            **common,
        )
        scheduler.add_job(
            tasks.reclaim,
            IntervalTrigger(seconds=max(1, s.dispatch.lease_seconds // 2)),
            args=[service],
            id="reclaim",
            name="reclaim expired leases",
            **common,
        )
    return scheduler
