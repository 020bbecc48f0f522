"""Scheduler wiring: one AsyncIOScheduler running the scan, dispatch and reclaim jobs."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

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

    def every(seconds: float, job: str, name: str, func: Callable[..., Any], *args: Any, first: bool) -> None:
        # first=True: the first run at start (see at_start); otherwise one interval after it.
        options = at_start if first else common
        trigger = IntervalTrigger(seconds=seconds)
        scheduler.add_job(func, trigger, args=list(args), id=job, name=name, **options)

    if scans:
        every(s.scan.interval_seconds, "scan", "scan dossiers", tasks.scan, service, first=True)
        every(6 * 3600, "purge", "retention purge", tasks.purge, service, first=False)
    if dispatch:
        every(s.dispatch.interval_seconds, "dispatch", "dispatch outbox", tasks.dispatch, service, first=True)
        callbacks = s.callbacks.interval_seconds
        every(callbacks, "callbacks", "callbacks to API keys", tasks.callbacks, service, first=False)
        lease = max(1, s.dispatch.lease_seconds // 2)
        every(lease, "reclaim", "reclaim expired leases", tasks.reclaim, service, first=True)
        inboxes = [ZaloOaInbox(service, name) for name in zalo_oa_channels(service)]
        if inboxes:
            # Zalo's events wait in the inbox (the webhook only stores them): applied about every second.
            every(1, "zalo_inbox", "apply Zalo OA events", tasks.zalo_inbox, inboxes, first=False)
    return scheduler
