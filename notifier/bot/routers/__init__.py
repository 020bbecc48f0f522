"""The Telegram adapter's one router: every message and every button press goes to the conversation core."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from notifier.bot.adapter import FsmState, deliver, event_of_callback, event_of_message
from notifier.bot.deps import BotDeps
from notifier.bot.keyboards import DossierAction, FeedbackAction, OfficerAction


async def on_message(message: Message, deps: BotDeps, state: FSMContext, bot: Bot) -> None:
    chat_state = FsmState(state, deps.conversation.clock)
    outcome = await deps.conversation.handle(event_of_message(message), chat_state)
    await deliver(bot, message.chat.id, outcome)


async def on_press(query: CallbackQuery, deps: BotDeps, state: FSMContext, bot: Bot) -> None:
    event = event_of_callback(query)
    outcome = await deps.conversation.handle(event, FsmState(state, deps.conversation.clock))
    # Telegram shows a spinner on the button until the press is answered.
    await query.answer(outcome.notice, show_alert=outcome.alert or None)
    pressed = query.message if isinstance(query.message, Message) else None
    await deliver(bot, event.sender.chat_id, outcome, pressed)


def citizen_router() -> Router:
    """Citizens' and officers' chats alike; the core answers citizens in private chats only."""
    root = Router(name="conversation")
    root.message.register(on_message)
    # Typed callback data: only our own shapes reach the core (the rest gets no answer, as before).
    root.callback_query.register(on_press, F.data.func(_ours))
    return root


def _ours(data: str) -> bool:
    for kind in (DossierAction, FeedbackAction, OfficerAction):
        try:
            kind.unpack(data)
        except (TypeError, ValueError):
            continue
        return True
    return False
