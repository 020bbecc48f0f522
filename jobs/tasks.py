"""The job functions. Each takes the Service; time comes from its clock, never from the scheduler.

Each job goes through its process's `Outage`: when the database is gone, the job logs that once, returns
None, and the scheduler runs it again on its next tick; the first success logs the recovery."""

from __future__ import annotations

import asyncio
import logging
import time
import weakref

from notifier.outbox.dispatch import DispatchStats
from notifier.outbox.scans import ScanResult
from notifier.store.outage import Outage
from notifier.workflows.service import Service
from notifier.workflows.zalo_oa import ZaloOaInbox

log = logging.getLogger("notifier.jobs")

# by id: a Service is a dataclass, so unhashable; the entry goes when the service does
_outages: dict[int, Outage] = {}


def outage_of(service: Service) -> Outage:
    """The one outage tracker of this process's service: all its jobs log one outage, not one each."""
    key = id(service)
    if key not in _outages:
        _outages[key] = Outage("notifier")
        weakref.finalize(service, _outages.pop, key, None)
    return _outages[key]


async def scan(service: Service) -> ScanResult | None:
    return await outage_of(service).guard(lambda: _scan(service))


async def _scan(service: Service) -> ScanResult:
    # The scan is one transaction of set-based SQL; a thread keeps the event loop free meanwhile.
    started = time.monotonic()
    result = await asyncio.to_thread(service.scan)
    if service.metrics is not None and not result.skipped:
        service.metrics.scan_seconds.labels(full=str(result.full).lower()).observe(time.monotonic() - started)
    if result.total:
        log.info("scan queued %s", {k: v for k, v in result.queued.items() if v})
    return result


async def dispatch(service: Service) -> DispatchStats | None:
    return await outage_of(service).guard(lambda: _dispatch(service))


async def _dispatch(service: Service) -> DispatchStats:
    stats = await service.dispatcher.drain()
    if stats.claimed:
        log.info("dispatch %s", stats)
    return stats


async def callbacks(service: Service) -> int | None:
    return await outage_of(service).guard(lambda: _callbacks(service))


async def _callbacks(service: Service) -> int:
    stats = await service.callbacks.run_once()
    if stats.delivered:
        log.info("callbacks delivered %d", stats.delivered)
    return stats.delivered


async def reclaim(service: Service) -> int | None:
    return await outage_of(service).guard(lambda: _reclaim(service))


async def _reclaim(service: Service) -> int:
    count = await asyncio.to_thread(service.dispatcher.reclaim_expired)
    if count:
        log.warning("reclaimed %d notifications from expired leases", count)
    return count


async def purge(service: Service) -> int | None:
    return await outage_of(service).guard(lambda: _purge(service))


async def _purge(service: Service) -> int:
    count = await asyncio.to_thread(service.purge)
    if count:
        log.info("retention purged the text and address of %d notifications", count)
    return count


async def zalo_inbox(inboxes: list[ZaloOaInbox]) -> int:
    """Apply the Zalo OA events the webhook stored (one inbox per zalo_oa channel)."""
    done = 0
    for inbox in inboxes:
        stats = await inbox.process()
        done += stats.processed
        if stats.processed or stats.failed:
            log.info("zalo inbox %s: %s", inbox.name, stats)
    return done
