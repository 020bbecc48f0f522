"""Linking by sharing one's own contact: every dossier of that phone then reaches this chat."""

from __future__ import annotations

import logging

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.fsm.context import FSMContext
from aiogram.types import Message

from notifier.bot import keyboards
from notifier.bot.deps import BotDeps
from notifier.rules.phones import InvalidPhone, normalize_phone

log = logging.getLogger(__name__)


async def shared_contact(message: Message, deps: BotDeps, state: FSMContext, bot: Bot) -> None:
    await state.clear()
    contact = message.contact
    sender = message.from_user
    # Anyone can forward someone else's contact card; only the sender's own number is verified by
    # Telegram (the request_contact button sends it with the sender's user id).
    if contact is None or sender is None or contact.user_id is None or contact.user_id != sender.id:
        await message.answer(deps.text("contact_not_own"), reply_markup=keyboards.main_menu())
        return
    try:
        phone = normalize_phone(contact.phone_number)
    except InvalidPhone:
        await message.answer(deps.text("contact_invalid"), reply_markup=keyboards.main_menu())
        return
    result = await deps.db(deps.store.link_phone, str(message.chat.id), str(sender.id), phone, deps.now())
    text = deps.text("contact_linked", phone_masked=result.phone_masked, items=result.dossiers)
    await message.answer(text, reply_markup=keyboards.main_menu())
    # The chats that had this number are told it moved: a takeover is never silent.
    for other in result.displaced:
        try:
            await bot.send_message(int(other), deps.text("contact_moved", phone_masked=result.phone_masked))
        except TelegramAPIError as exc:
            log.info("chat %s not told of the moved number: %s", other, exc)


def build() -> Router:
    """A fresh router each time: aiogram attaches a router to one parent only."""
    router = Router(name="linking")
    router.message.register(shared_contact, F.contact)
    return router
