"""/start, /help and the "Tra cứu hồ sơ" button."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.types import Message

from notifier.bot import keyboards
from notifier.bot.deps import BotDeps


async def start(message: Message, deps: BotDeps, state: FSMContext) -> None:
    await state.clear()
    name = message.from_user.first_name if message.from_user else None
    text = deps.text("welcome", first_name=name, province=deps.settings.province.name)
    await message.answer(text, reply_markup=keyboards.main_menu())


async def help_(message: Message, deps: BotDeps, state: FSMContext) -> None:
    await state.clear()
    await message.answer(deps.text("help"), reply_markup=keyboards.main_menu())


async def lookup_button(message: Message, deps: BotDeps, state: FSMContext) -> None:
    await state.clear()
    await message.answer(deps.text("lookup_prompt"), reply_markup=keyboards.main_menu())


def build() -> Router:
    """A fresh router each time: aiogram attaches a router to one parent only."""
    router = Router(name="start")
    router.message.register(start, CommandStart())
    router.message.register(help_, Command("help", "trogiup"))
    router.message.register(lookup_button, F.text == keyboards.LOOKUP)
    return router
