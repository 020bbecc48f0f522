"""One object wiring settings, clock, database, calendar and channels for the CLI, the web app and jobs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from notifier.channels.registry import Channels
from notifier.clock import Clock, SystemClock
from notifier.config import Settings
from notifier.db import make_engine, session_factory, upgrade
from notifier.dispatch import Dispatcher, check_routing
from notifier.scans import ScanResult, scan_all
from notifier.template_store import seed_defaults
from notifier.workdays import WorkCalendar


@dataclass
class Service:
    settings: Settings
    clock: Clock
    engine: Engine
    factory: sessionmaker[Session]
    calendar: WorkCalendar
    channels: Channels
    _dispatcher: Dispatcher | None = field(default=None, repr=False)
    metrics: Any = field(default=None, repr=False)  # notifier.metrics.Metrics once a web app serves them

    @classmethod
    def build(cls, settings: Settings, clock: Clock | None = None, engine: Engine | None = None) -> Service:
        engine = engine or make_engine(settings.database.url, settings.database.echo)
        clock = clock or SystemClock()
        calendar = WorkCalendar(settings.calendar.extra_days_off, settings.calendar.extra_working_days)
        return cls(
            settings, clock, engine, session_factory(engine), calendar, Channels(settings.channels, clock)
        )

    def migrate(self) -> int:
        """Bring the schema up to date and load shipped templates the database lacks."""
        upgrade(self.engine)
        with self.factory() as session, session.begin():
            return seed_defaults(session, self.clock.now())

    def scan(self) -> ScanResult:
        with self.factory() as session, session.begin():
            return scan_all(session, self.clock.now(), self.settings, self.calendar)

    @property
    def dispatcher(self) -> Dispatcher:
        if self._dispatcher is None:
            check_routing(self.settings, self.channels)
            self._dispatcher = Dispatcher(
                self.factory, self.settings, self.clock, self.channels, self.calendar
            )
        return self._dispatcher

    async def aclose(self) -> None:
        await self.channels.aclose()
        self.engine.dispose()
