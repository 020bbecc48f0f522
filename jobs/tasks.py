"""The job functions. Each takes the Service; time comes from its clock, never from the scheduler."""

from __future__ import annotations

import asyncio
import logging
import time

from notifier.outbox.dispatch import DispatchStats
from notifier.outbox.scans import ScanResult
from notifier.workflows.service import Service

log = logging.getLogger("notifier.jobs")


async def scan(service: Service) -> ScanResult:
    # The scan is one transaction of set-based SQL; a thread keeps the event loop free meanwhile.
    started = time.monotonic()
    result = await asyncio.to_thread(service.scan)
    if service.metrics is not None and not result.skipped:
        service.metrics.scan_seconds.labels(full=str(result.full).lower()).observe(time.monotonic() - started)
    if result.total:
        log.info("scan queued %s", {k: v for k, v in result.queued.items() if v})
    return result


async def dispatch(service: Service) -> DispatchStats:
    stats = await service.dispatcher.drain()
    if stats.claimed:
        log.info("dispatch %s", stats)
    return stats


async def callbacks(service: Service) -> int:
    stats = await service.callbacks.run_once()
    if stats.delivered:
        log.info("callbacks delivered %d", stats.delivered)
    return stats.delivered


async def reclaim(service: Service) -> int:
    count = await asyncio.to_thread(service.dispatcher.reclaim_expired)
    if count:
        log.warning("reclaimed %d notifications from expired leases", count)
    return count


async def purge(service: Service) -> int:
    from notifier.outbox.retention import purge as purge_rows

    def run() -> int:
        with service.factory() as session, session.begin():
            return purge_rows(session, service.clock.now(), service.settings.retention.days)

    count = await asyncio.to_thread(run)
    if count:
        log.info("retention purged the text and address of %d notifications", count)
    return count
