"""What every handler receives as `deps` (aiogram workflow data): the store, the texts and the clock."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from notifier.bot.keyboards import Signer
from notifier.config import Settings
from notifier.rules.clock import Clock
from notifier.store.bot_texts import BotTexts
from notifier.workflows.chat import BotStore

T = TypeVar("T")


@dataclass
class BotDeps:
    store: BotStore
    texts: BotTexts
    clock: Clock
    settings: Settings
    signer: Signer
    _texts_lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    def now(self) -> datetime:
        return self.clock.now()

    def text(self, name: str, **context: Any) -> str:
        return self.texts.render(name, **context)

    async def db(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a synchronous store method in a thread, keeping the event loop free for other chats."""
        return await asyncio.to_thread(fn, *args, **kwargs)

    async def refresh_texts(self) -> None:
        """Pick up admins' edits at most every ttl seconds, one reader at a time."""
        if not self.texts.stale():
            return
        async with self._texts_lock:
            if self.texts.stale():
                await asyncio.to_thread(self.texts.refresh)
