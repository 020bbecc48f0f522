"""One object wiring settings, clock, database, calendar and channels for the CLI, the web app and jobs."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from notifier.channels.registry import Channels
from notifier.config import Settings
from notifier.outbox.callbacks import CallbackSender
from notifier.outbox.dispatch import Dispatcher, check_routing
from notifier.outbox.retention import purge as purge_rows
from notifier.outbox.scans import ScanResult, ScanRun, scan_all
from notifier.rules.clock import Clock, SystemClock
from notifier.rules.rendering import TemplateFile, load_template_files
from notifier.rules.workdays import WorkCalendar
from notifier.store.bot_texts import load_text_files
from notifier.store.chat_states import purge_expired
from notifier.store.engine import make_engine, session_factory, upgrade
from notifier.store.templates import Seeded, seed_defaults
from notifier.workflows.apology import issue_missing_slips


@functools.cache
def _shipped_templates() -> tuple[TemplateFile, ...]:
    """The notification templates and the chatbot's replies (channel type "bot") the package ships.

    They are files of the installed package, which do not change while a process runs: read and checked
    once, not on every `migrate()` (a service start, and every test's database)."""
    return (*load_template_files(), *load_text_files())


def portal_slips(run: ScanRun) -> dict[str, int]:
    changed = None if run.window.full else run.window.changed()
    issue_missing_slips(run.session, run.now, run.settings.apology.number_format, changed)
    return {}


@dataclass
class Service:
    settings: Settings
    clock: Clock
    engine: Engine
    factory: sessionmaker[Session]
    calendar: WorkCalendar
    channels: Channels
    _dispatcher: Dispatcher | None = field(default=None, repr=False)
    _callbacks: CallbackSender | None = field(default=None, repr=False)
    metrics: Any = field(default=None, repr=False)  # notifier.web.metrics.Metrics once a web app serves them

    @classmethod
    def build(cls, settings: Settings, clock: Clock | None = None, engine: Engine | None = None) -> Service:
        engine = engine or make_engine(settings.database.url, settings.database.echo)
        clock = clock or SystemClock()
        calendar = WorkCalendar(
            settings.calendar.extra_days_off,
            settings.calendar.extra_working_days,
            culture_day_off=settings.calendar.culture_day_off,
        )
        return cls(
            settings, clock, engine, session_factory(engine), calendar, Channels(settings.channels, clock)
        )

    def migrate(self) -> Seeded:
        """Bring the schema up to date; load the shipped templates the database lacks, and bring the copies
        nobody has edited to this release's text (notifier.store.templates.seed_defaults)."""
        upgrade(self.engine)
        with self.factory() as session, session.begin():
            return seed_defaults(session, self.clock.now(), _shipped_templates())

    def scan(self) -> ScanResult:
        """Every scan once, in one transaction; also issues the apology documents for new dates that came
        from the portal (ingest records the facts, the document is the apology workflow's)."""
        with self.factory() as session, session.begin():
            return scan_all(session, self.clock.now(), self.settings, self.calendar, extra=[portal_slips])

    def purge(self) -> int:
        """The retention purge ([retention] days, notifier.outbox.retention), with the chat forms nobody
        finished (they read as none already; their rows go with what they held); how many notifications
        were emptied. `notifier purge` and the scheduled job both run this."""
        with self.factory() as session, session.begin():
            now = self.clock.now()
            purge_expired(session, now)
            return purge_rows(session, now, self.settings.retention.days)

    @property
    def dispatcher(self) -> Dispatcher:
        if self._dispatcher is None:
            check_routing(self.settings, self.channels)
            self._dispatcher = Dispatcher(
                self.factory, self.settings, self.clock, self.channels, self.calendar
            )
        return self._dispatcher

    @property
    def callbacks(self) -> CallbackSender:
        """POSTs status changes to API keys' callback URLs (notifier.outbox.callbacks)."""
        if self._callbacks is None:
            self._callbacks = CallbackSender(self.factory, self.clock, self.settings.callbacks)
        return self._callbacks

    async def aclose(self) -> None:
        if self._callbacks is not None:
            await self._callbacks.aclose()
        await self.channels.aclose()
        self.engine.dispose()
