"""The conversation's form step in the database (`chat_states`), for adapters whose events any process may
handle (the Zalo OA inbox workers): a form started in one process is finished in another, and survives a
restart; a step left longer than `[bot] chat_state_ttl_seconds` expires.

It also answers the chat's chosen language, read in the same statement as the step (KnowsLanguage), so
the core needs no separate query for it."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from notifier.rules.clock import Clock
from notifier.store import chat_states
from notifier.workflows.conversation.api import Sender


class StoredChatState:
    """One conversation's ChatState, for one event: read once (with the language), written through."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        clock: Clock,
        sender: Sender,
        ttl: timedelta,
        preloaded: tuple[str | None, dict[str, Any], str | None] | None = None,
    ) -> None:
        """`preloaded`: what `notifier.store.chat_states.load` gave the adapter in a transaction of its
        own (the Zalo inbox reads it with the event), so it is not read again."""
        self.factory, self.clock, self.ttl = factory, clock, ttl
        self.platform, self.key = sender.platform.value, sender.key
        self._read: tuple[str | None, dict[str, Any], str | None] | None = preloaded

    async def _loaded(self) -> tuple[str | None, dict[str, Any], str | None]:
        if self._read is None:
            self._read = await asyncio.to_thread(self._load)
        return self._read

    def _load(self) -> tuple[str | None, dict[str, Any], str | None]:
        with self.factory() as session:
            return chat_states.load(session, self.platform, self.key, self.clock.now())

    async def get(self) -> tuple[str | None, dict[str, Any]]:
        step, data, _ = await self._loaded()
        return step, dict(data)

    async def set(self, step: str | None, data: dict[str, Any] | None = None) -> None:
        await asyncio.to_thread(self._save, step, data)
        language = self._read[2] if self._read is not None else None
        known = self._read is not None
        self._read = (step, dict(data or {}) if step is not None else {}, language) if known else None

    def _save(self, step: str | None, data: dict[str, Any] | None) -> None:
        with self.factory() as session, session.begin():
            chat_states.save(session, self.platform, self.key, step, data, self.clock.now(), self.ttl)

    async def chosen_language(self) -> tuple[bool, str | None]:
        return True, (await self._loaded())[2]

    async def remember_language(self, language: str | None) -> None:
        if self._read is not None:
            self._read = (self._read[0], self._read[1], language)
