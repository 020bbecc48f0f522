"""/huy and "Hủy nhận tin" stop Telegram notices, /batdau resumes, and the subscribe button after a lookup."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from notifier.bot import keyboards
from notifier.bot.deps import BotDeps
from notifier.bot.keyboards import DossierAction


async def stop(message: Message, deps: BotDeps, state: FSMContext) -> None:
    await state.clear()
    await deps.db(deps.store.set_stopped, str(message.chat.id), True, deps.now())
    await message.answer(deps.text("stopped"), reply_markup=keyboards.main_menu())


async def resume(message: Message, deps: BotDeps, state: FSMContext) -> None:
    await state.clear()
    await deps.db(deps.store.set_stopped, str(message.chat.id), False, deps.now())
    await message.answer(deps.text("resumed"), reply_markup=keyboards.main_menu())


async def subscribe(query: CallbackQuery, callback_data: DossierAction, deps: BotDeps, bot: Bot) -> None:
    await query.answer()
    chat_id = query.message.chat.id if query.message else query.from_user.id
    code = None
    if deps.signer.verify(chat_id, callback_data.id, callback_data.sig):
        code = await deps.db(
            deps.store.subscribe, str(chat_id), str(query.from_user.id), callback_data.id, deps.now()
        )
    if code is None:
        await bot.send_message(chat_id, deps.text("action_expired"))
        return
    await bot.send_message(chat_id, deps.text("subscribed", code=code))


def build() -> Router:
    """A fresh router each time: aiogram attaches a router to one parent only."""
    router = Router(name="subscription")
    router.message.register(stop, Command("huy"))
    router.message.register(stop, F.text == keyboards.STOP)
    router.message.register(resume, Command("batdau"))
    router.callback_query.register(subscribe, DossierAction.filter(F.action == "sub"))
    return router
