"""The bot's routers, one concept each, included in the order a message should be tried."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.enums import ChatType

from notifier.bot.routers import (
    fallback,
    feedback,
    linking,
    lookup,
    my_dossiers,
    privacy,
    start,
    subscription,
)


def citizen_router() -> Router:
    """Private chats only: a lookup answered in a group would show a citizen's dossier to everyone in it."""
    root = Router(name="citizen")
    root.message.filter(F.chat.type == ChatType.PRIVATE)
    root.callback_query.filter(F.message.chat.type == ChatType.PRIVATE)
    # Menu buttons and commands first (they leave any half-finished form), then the feedback form's
    # steps, then free text read as a lookup, then the help reply for anything else.
    for module in (start, subscription, privacy, my_dossiers, linking, feedback, lookup, fallback):
        root.include_router(module.build())
    return root
