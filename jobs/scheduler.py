"""Scheduler wiring: one AsyncIOScheduler running the scan, dispatch and reclaim jobs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MISSED,
    EVENT_JOB_SUBMITTED,
    JobEvent,
)
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from jobs import tasks
from notifier.outbox.dispatch import Dispatcher
from notifier.rules.clock import VN_TZ
from notifier.workflows.service import Service
from notifier.workflows.zalo_oa import ZaloOaInbox, zalo_oa_channels


class _SkipOverlapNotice(logging.Filter):
    """A dispatch run still going when the next tick comes is by design (max_instances=1): not a warning."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances reached" not in record.getMessage()


logging.getLogger("apscheduler.scheduler").addFilter(_SkipOverlapNotice())


class _StoppedRunNotice(logging.Filter):
    """A run cut off by a stop (past its grace, see Scheduler.stop) is what the stop asked for: one warning
    line, not an error with a traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], asyncio.CancelledError):
            record.msg, record.args = "%s: cut off by the stop", (record.getMessage().split(" raised ")[0],)
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.exc_info, record.exc_text = None, None
        return True


# On the executor's own logger: a filter on a parent logger does not see its children's records.
logging.getLogger("apscheduler.executors.default").addFilter(_StoppedRunNotice())


class Scheduler(AsyncIOScheduler):
    """The AsyncIOScheduler, with a stop that lets the job runs in progress finish.

    APScheduler's own shutdown cancels a coroutine job that is running, and logs the cancellation as that
    job's error, traceback and all: at every stop that met a scan, a drain or a callback run in progress.
    """

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        # Runs submitted and not yet ended (the listener runs on the event loop). A submission ends in one
        # event per run time, executed, error or missed: one, as every job here coalesces its run times.
        self._in_progress = 0
        ends = EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED
        self.add_listener(self._count, EVENT_JOB_SUBMITTED | ends)

    @property
    def runs_in_progress(self) -> int:
        return self._in_progress

    def _count(self, event: JobEvent) -> None:
        self._in_progress = max(0, self._in_progress + (1 if event.code == EVENT_JOB_SUBMITTED else -1))

    async def stop(self, grace_seconds: float, dispatcher: Dispatcher | None = None) -> None:
        """Stop for a process that is shutting down: no new run; `dispatcher` stopped (see Dispatcher.stop);
        the runs in progress waited for, all within `grace_seconds`; what still runs after it is cancelled."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace_seconds
        if self.running:
            self.pause()
        if dispatcher is not None:
            await dispatcher.stop(grace_seconds)
        while self.runs_in_progress > 0 and loop.time() < deadline:
            await asyncio.sleep(0.05)
        if self.running:
            self.shutdown(wait=False)


def build_scheduler(service: Service, *, scans: bool = True, dispatch: bool = True) -> Scheduler:
    scheduler = Scheduler(timezone=VN_TZ)
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
