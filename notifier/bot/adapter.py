"""Telegram <-> the conversation core: an update becomes a core event, an Outcome becomes Bot API calls.

Translation only; every decision (what to answer, who may see what, the throttle) is the core's.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from aiogram import Bot
from aiogram.enums import ChatType
from aiogram.exceptions import TelegramAPIError
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Chat, Message, User

from notifier.bot import keyboards
from notifier.rules.chat_keys import TELEGRAM, platform_of
from notifier.rules.clock import Clock
from notifier.workflows.conversation import (
    ContactIn,
    Incoming,
    OtherIn,
    Outcome,
    Platform,
    Press,
    Sender,
    TextIn,
)

log = logging.getLogger(__name__)


def sender_of(chat: Chat, user: User | None) -> Sender:
    return Sender(
        Platform.TELEGRAM,
        chat_id=str(chat.id),
        user_id=str(user.id) if user is not None else None,
        first_name=user.first_name if user is not None else None,
        private=chat.type == ChatType.PRIVATE,
        threads_replies=True,
        # The app's language: the chat's first language until the citizen chooses (/english, /tiengviet).
        language=user.language_code if user is not None else None,
    )


def event_of_message(message: Message) -> Incoming:
    sender = sender_of(message.chat, message.from_user)
    if message.contact is not None:
        owner = message.contact.user_id
        return ContactIn(sender, message.contact.phone_number, str(owner) if owner is not None else None)
    if message.text is not None:
        prompt = message.reply_to_message
        reply_to = None
        if prompt is not None and prompt.from_user is not None and prompt.from_user.is_bot:
            reply_to = prompt.text
        return TextIn(sender, message.text, reply_to)
    return OtherIn(sender)


def event_of_callback(query: CallbackQuery) -> Press:
    chat = query.message.chat if query.message is not None else None
    if chat is None:  # the message is too old for Telegram to hand back: the user's own chat
        sender = Sender(
            Platform.TELEGRAM, str(query.from_user.id), str(query.from_user.id), query.from_user.first_name,
            threads_replies=True, language=query.from_user.language_code,
        )  # fmt: skip
    else:
        sender = sender_of(chat, query.from_user)
    return Press(sender, query.data or "")


class FsmState:
    """The core's ChatState in aiogram's FSM storage (memory, or Redis shared by several processes).

    It keeps the chat's chosen language beside the step (KnowsLanguage), so a look-up costs no query for
    it. The choice is changed only through this same chat, which updates the cache; an erasure of the
    chat's data (notifier.workflows.privacy, in another process) reaches it when the cache is re-read,
    after LANGUAGE_TTL."""

    LANGUAGE = "_language"  # the key in the FSM data: [choice ("" for none), when it was read]
    LANGUAGE_TTL = timedelta(minutes=10)

    def __init__(self, context: FSMContext, clock: Clock) -> None:
        self.context, self.clock = context, clock

    async def get(self) -> tuple[str | None, dict[str, Any]]:
        data = await self.context.get_data()
        data.pop(self.LANGUAGE, None)
        return await self.context.get_state(), data

    async def set(self, step: str | None, data: dict[str, Any] | None = None) -> None:
        kept = {k: v for k, v in (await self.context.get_data()).items() if k == self.LANGUAGE}
        await self.context.set_state(step)
        await self.context.set_data({**(data or {}), **kept} if step is not None else kept)

    async def chosen_language(self) -> tuple[bool, str | None]:
        cached = (await self.context.get_data()).get(self.LANGUAGE)
        if not isinstance(cached, list) or len(cached) != 2:
            return False, None
        choice, read_at = cached
        if not isinstance(read_at, int | float) or self.clock.now().timestamp() - read_at > self.ttl_seconds:
            return False, None
        return True, choice or None

    @property
    def ttl_seconds(self) -> float:
        return self.LANGUAGE_TTL.total_seconds()

    async def remember_language(self, language: str | None) -> None:
        await self.context.update_data({self.LANGUAGE: [language or "", self.clock.now().timestamp()]})


async def deliver(bot: Bot, chat_id: int | str, outcome: Outcome, pressed: Message | None = None) -> None:
    """Send the replies in order; `pressed`: the message whose button was pressed (edited in place)."""
    for reply in outcome.replies:
        if reply.replace and pressed is not None:
            await pressed.edit_text(
                reply.text, reply_markup=None if not reply.buttons else keyboards.inline(reply.buttons)
            )
            continue
        await bot.send_message(chat_id, reply.text, reply_markup=keyboards.markup(reply))
    for other in outcome.elsewhere:
        if platform_of(other.key) != TELEGRAM:
            # Another platform's conversation: its adapter is not here; what it was asked stays pending.
            log.info("message for %s not sent from the Telegram adapter", platform_of(other.key))
            continue
        try:
            await bot.send_message(
                int(other.key), other.reply.text, reply_markup=keyboards.markup(other.reply)
            )
        except TelegramAPIError as exc:  # a chat that blocked the bot cannot agree; the link stays pending
            log.info("message to chat %s not delivered: %s", other.key, exc)
