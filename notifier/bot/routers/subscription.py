"""/huy and "Hủy nhận tin" stop Telegram notices, /batdau resumes, and the subscribe button after a lookup."""

from __future__ import annotations

import logging

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from notifier.bot import keyboards
from notifier.bot.deps import BotDeps
from notifier.bot.keyboards import DossierAction

log = logging.getLogger(__name__)


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
    done = None
    if deps.signer.verify(chat_id, callback_data.id, callback_data.sig):
        done = await deps.db(
            deps.store.subscribe, str(chat_id), str(query.from_user.id), callback_data.id, deps.now()
        )
    if done is None:
        await bot.send_message(chat_id, deps.text("action_expired"))
        return
    if not done.pending or done.link_id is None:
        await bot.send_message(chat_id, deps.text("subscribed", code=done.code))
        return
    # The chats already receiving the dossier are asked; the new chat waits for one of them.
    await bot.send_message(chat_id, deps.text("link_pending", code=done.code))
    for other in done.ask:
        markup = keyboards.confirm_link(done.link_id, deps.signer.sign(other, -done.link_id))
        try:
            await bot.send_message(int(other), deps.text("link_request", code=done.code), reply_markup=markup)
        except TelegramAPIError as exc:  # a chat that blocked the bot cannot agree; the link stays pending
            log.info("link request to chat %s not delivered: %s", other, exc)


async def confirm(query: CallbackQuery, callback_data: DossierAction, deps: BotDeps, bot: Bot) -> None:
    """A linked chat agrees that another chat receives the dossier's notices too."""
    await query.answer()
    chat_id = query.message.chat.id if query.message else query.from_user.id
    done = None
    if deps.signer.verify(chat_id, -callback_data.id, callback_data.sig):
        done = await deps.db(deps.store.confirm_link, str(chat_id), callback_data.id, deps.now())
    if done is None:
        await bot.send_message(chat_id, deps.text("action_expired"))
        return
    await bot.send_message(chat_id, deps.text("link_confirmed", code=done.code))
    await bot.send_message(int(done.chat_id), deps.text("subscribed", code=done.code))


def build() -> Router:
    """A fresh router each time: aiogram attaches a router to one parent only."""
    router = Router(name="subscription")
    router.message.register(stop, Command("huy"))
    router.message.register(stop, F.text == keyboards.STOP)
    router.message.register(resume, Command("batdau"))
    router.callback_query.register(subscribe, DossierAction.filter(F.action == "sub"))
    router.callback_query.register(confirm, DossierAction.filter(F.action == "ok"))
    return router
