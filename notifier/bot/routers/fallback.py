"""Anything the other routers did not take: a short help with the menu."""

from __future__ import annotations

from aiogram import Router
from aiogram.types import Message

from notifier.bot import keyboards
from notifier.bot.deps import BotDeps


async def anything(message: Message, deps: BotDeps) -> None:
    await message.answer(deps.text("help"), reply_markup=keyboards.main_menu())


def build() -> Router:
    """A fresh router each time: aiogram attaches a router to one parent only."""
    router = Router(name="fallback")
    router.message.register(anything)
    return router
