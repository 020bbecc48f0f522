"""Scheduler wiring: one AsyncIOScheduler running the scan, dispatch and reclaim jobs."""

from __future__ import annotations

import logging
from datetime import datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from jobs import tasks
from notifier.rules.clock import VN_TZ
from notifier.workflows.service import Service
from notifier.workflows.zalo_oa import ZaloOaInbox, zalo_oa_channels


class _SkipOverlapNotice(logging.Filter):
    """A dispatch run still going when the next tick comes is by design (max_instances=1): not a warning."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances reached" not in record.getMessage()


logging.getLogger("apscheduler.scheduler").addFilter(_SkipOverlapNotice())


def build_scheduler(service: Service, *, scans: bool = True, dispatch: bool = True) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone=VN_TZ)
    # One instance of each at a time, and a missed run is merged, not replayed in a burst.
    common = {"max_instances": 1, "coalesce": True, "misfire_grace_time": 60}
    # The first run at start, not one interval later, and by the scheduler (not awaited before it starts):
    # a database that is down at start-up then costs a logged, retried run, never the process; the reclaim
    # of a killed worker's rows does not wait for a first drain. The scheduler's own wall clock, like its
    # triggers: the service clock may be fixed (--now) and would make this run a misfire.
    at_start = {**common, "next_run_time": datetime.now(VN_TZ)}
    s = service.settings
    if scans:
        scheduler.add_job(
            tasks.scan,
            IntervalTrigger(seconds=s.scan.interval_seconds),
            args=[service],
            id="scan",
            name="scan dossiers",
            **at_start,
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
            **at_start,
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
            **at_start,
        )
        inboxes = [ZaloOaInbox(service, name) for name in zalo_oa_channels(service)]
        if inboxes:
            # Zalo's events wait in the inbox (the webhook only stores them): applied about every second.
            scheduler.add_job(
                tasks.zalo_inbox,
                IntervalTrigger(seconds=1),
                args=[inboxes],
                id="zalo_inbox",
                name="apply Zalo OA events",
                **common,
            )
    return scheduler
