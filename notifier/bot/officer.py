"""The officers' alert buttons as a stand-alone aiogram router (the flows are the core's).

The chatbot's own dispatcher does not need this router: its one router sends `oa:…` presses to the
conversation core too. This one serves a dispatcher that only carries officers' alerts:

    from notifier.bot.officer import build_router
    dp = Dispatcher(service=service)
    dp.include_router(build_router())

"Đặt ngày hẹn mới" asks, as a message to reply to, for the new date and the reason; the reply is
recognised by the prompt it answers, so no state is kept and a restart between the two messages loses
nothing. See notifier.workflows.conversation.officer for the flows and who may act.
"""

from __future__ import annotations

from typing import Any

from aiogram import Bot, F, Router
from aiogram.types import CallbackQuery, Message

from notifier.bot.adapter import deliver, event_of_callback, sender_of
from notifier.workflows.conversation.officer import (
    PROMPT_CODE,
    PROMPT_HEAD,
    OfficerFlows,
    prompted_code,
    refusal_text,
)
from notifier.workflows.officer_actions import Wiring


def _wiring(data: dict[str, Any]) -> Wiring:
    service = data.get("service")
    if service is not None:
        return service  # type: ignore[no-any-return]
    deps = data.get("deps")
    if deps is not None:  # the chatbot's BotDeps
        return deps.conversation.officers.wiring  # type: ignore[no-any-return]
    raise RuntimeError(
        "the officer router needs `service` (or the chatbot's `deps`) in the dispatcher's data"
    )


async def on_button(callback: CallbackQuery, bot: Bot, **data: Any) -> None:
    event = event_of_callback(callback)
    outcome, _ = await OfficerFlows(_wiring(data)).press(event.sender, event.payload)
    await callback.answer(outcome.notice, show_alert=outcome.alert or None)
    pressed = callback.message if isinstance(callback.message, Message) else None
    if pressed is None:  # the alert is too old for Telegram to hand it back
        return
    await deliver(bot, pressed.chat.id, outcome, pressed)


async def on_new_date_reply(message: Message, bot: Bot, **data: Any) -> None:
    prompt = message.reply_to_message
    code = prompted_code(prompt.text if prompt is not None else None)
    if code is None:
        return
    sender = sender_of(message.chat, message.from_user)
    outcome = await OfficerFlows(_wiring(data)).new_date(sender, code, message.text or "")
    await deliver(bot, message.chat.id, outcome)


def build_router() -> Router:
    """A fresh router (aiogram attaches a router to one parent only)."""
    r = Router(name="officer-actions")
    r.callback_query.register(on_button, F.data.startswith("oa:"))
    r.message.register(
        on_new_date_reply,
        F.reply_to_message.from_user.is_bot,
        # search: a repeated prompt (after a refusal) starts with the refusal, the prompt line follows;
        # the prompt's line is recognised in either language (the officer's chat may read English)
        F.reply_to_message.text.regexp(PROMPT_CODE, mode="search"),
        F.text,
    )
    return r


router = build_router()

__all__ = ["PROMPT_HEAD", "build_router", "refusal_text", "router"]
