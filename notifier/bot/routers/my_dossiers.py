"""/hoso and "Hồ sơ của tôi": the chat's linked dossiers, each opening its details."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from notifier.bot import keyboards
from notifier.bot.deps import BotDeps
from notifier.bot.keyboards import DossierAction
from notifier.bot.routers.lookup import found_reply


async def my_dossiers(message: Message, deps: BotDeps, state: FSMContext) -> None:
    await state.clear()
    rows, stopped = await deps.db(deps.store.my_dossiers, str(message.chat.id), deps.now())
    if not rows:
        await message.answer(deps.text("my_dossiers_empty"), reply_markup=keyboards.main_menu())
        return
    text = deps.text("my_dossiers", items=[view for _, view in rows], opted_out=stopped)
    await message.answer(text, reply_markup=keyboards.my_dossiers((i, v.code) for i, v in rows))


async def show(query: CallbackQuery, callback_data: DossierAction, deps: BotDeps, bot: Bot) -> None:
    await query.answer()
    chat_id = query.message.chat.id if query.message else query.from_user.id
    # The id comes from the client: the store answers only if this chat is linked to that dossier.
    found = await deps.db(deps.store.linked_dossier, str(chat_id), callback_data.id, deps.now())
    if found is None:
        await bot.send_message(chat_id, deps.text("action_expired"))
        return
    await bot.send_message(chat_id, **found_reply(deps, chat_id, found))


def build() -> Router:
    """A fresh router each time: aiogram attaches a router to one parent only."""
    router = Router(name="my_dossiers")
    router.message.register(my_dossiers, Command("hoso"))
    router.message.register(my_dossiers, F.text == keyboards.MY_DOSSIERS)
    router.callback_query.register(show, DossierAction.filter(F.action == "show"))
    return router
