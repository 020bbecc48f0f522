"""Database outages: every long-running process (the jobs of run, worker and scheduler; the chatbot) keeps
going through them.

A job that hits a lost or refused connection logs once when the outage starts and once when the database
answers again, and is simply run again on its next tick; start-up waits for the database with a growing
pause. Nothing here decides what is sent: the outbox's leases and reclaim already make a failed run safe.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

log = logging.getLogger("notifier.outage")

T = TypeVar("T")

# Start-up retries: 1 s, 2 s, 4 s ... never longer than this between two tries.
MAX_PAUSE_SECONDS = 30.0


def is_outage(exc: BaseException) -> bool:
    """A lost, refused or terminated connection, or a database locked past the wait: the database's
    trouble (answer 503, retry later), not a bug and not bad data."""
    if isinstance(exc, OperationalError | InterfaceError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def reason(exc: BaseException) -> str:
    """The driver's error and its first line, without the SQL statement SQLAlchemy appends."""
    original = getattr(exc, "orig", None) or exc
    lines = str(original).strip().splitlines() or [""]
    return f"{type(original).__name__}: {lines[0][:200]}"


class SchemaNotReady(Exception):
    """The database answers but its schema is not this version's: none yet, or another migration. A
    long-running process waits for it as for an outage: another process may be migrating it."""


def check_schema(engine: Engine) -> None:
    """Raise SchemaNotReady unless the database's schema is at this version's newest migration."""
    from notifier.store.engine import schema_revisions

    current, heads = schema_revisions(engine)
    if current == heads:
        return
    if not current:
        raise SchemaNotReady("no schema yet")
    raise SchemaNotReady(
        f"schema at revision {', '.join(sorted(current))}, this version needs {', '.join(sorted(heads))}"
    )


class Outage:
    """One process's view of the database: up, or down since when. Logs each transition once."""

    def __init__(self, process: str) -> None:
        self.process = process
        self.down_since: float | None = None
        self.schema = False  # down_since is the wait for the schema, not an outage

    def _trouble(self, exc: BaseException) -> str:
        if isinstance(exc, SchemaNotReady):
            return (
                f"{self.process}: database answers but {exc}: run `notifier db upgrade` (`notifier run` "
                "migrates it as it starts); waiting for it"
            )
        return f"{self.process}: database unavailable ({reason(exc)}); retrying until it answers"

    def failed(self, exc: BaseException) -> None:
        if self.down_since is None:
            self.down_since = time.monotonic()
            self.schema = isinstance(exc, SchemaNotReady)
            log.error("%s", self._trouble(exc))
        elif isinstance(exc, SchemaNotReady) and not self.schema:  # it answers now, but is not migrated
            self.schema = True
            log.error("%s", self._trouble(exc))
        log.debug("%s: still no database", self.process, exc_info=exc)

    def succeeded(self) -> None:
        if self.down_since is not None:
            down = time.monotonic() - self.down_since
            what = "schema up to date" if self.schema else "available again"
            log.warning("%s: database %s after %.0f s; resuming", self.process, what, down)
            self.down_since = None

    async def guard(self, job: Callable[[], Awaitable[T]]) -> T | None:
        """Run `job`; an outage is logged (once) and gives None, so the scheduler simply runs it next tick."""
        try:
            result = await job()
        except Exception as exc:
            if not is_outage(exc):
                raise
            self.failed(exc)
            return None
        self.succeeded()
        return result

    async def wait_for(self, step: Callable[[], T], first_pause: float = 1.0) -> T:
        """Run the blocking `step` (e.g. migrating at start-up) until the database lets it finish; a
        SchemaNotReady it raises (check_schema) is waited out too."""
        pause = first_pause
        while True:
            try:
                result = await asyncio.to_thread(step)
            except Exception as exc:
                if not is_outage(exc) and not isinstance(exc, SchemaNotReady):
                    raise
                self.failed(exc)
                await asyncio.sleep(pause)
                pause = min(pause * 2, MAX_PAUSE_SECONDS)
                continue
            self.succeeded()
            return result
