"""The bot inside `notifier run`, imported without aiogram: aiogram loads only when a token is set."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from notifier.bot.config import connection
from notifier.workflows.service import Service


@asynccontextmanager
async def bot_lifespan(service: Service, app: Any) -> AsyncIterator[None]:
    if connection(service.settings) is None:
        yield
        return
    from notifier.bot.runner import running

    async with running(service, app):
        yield
