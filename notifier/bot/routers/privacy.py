"""/dulieu and the data-subject requests: /xemdulieu, /suadulieu …, /xoadulieu, /rutdongy. The request is
notifier.workflows.privacy's; the chat is the subject only for what it proved (a shared contact, a lookup)."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.types import Message

from notifier.bot import keyboards
from notifier.bot.deps import BotDeps
from notifier.rules.privacy import RequestKind
from notifier.workflows.errors import DomainError

COMMANDS = {
    "xemdulieu": RequestKind.ACCESS,
    "suadulieu": RequestKind.CORRECT,
    "xoadulieu": RequestKind.ERASE,
    "rutdongy": RequestKind.WITHDRAW,
}


async def explain(message: Message, deps: BotDeps, state: FSMContext) -> None:
    await state.clear()
    p = deps.settings.privacy
    text = deps.text("privacy_help", law=p.law, decree=p.decree, working_days=p.answer_working_days)
    await message.answer(text, reply_markup=keyboards.main_menu())


async def ask(message: Message, command: CommandObject, deps: BotDeps, state: FSMContext) -> None:
    await state.clear()
    kind = COMMANDS[command.command.lower()]
    detail = (command.args or "").strip() or None
    if kind is RequestKind.CORRECT and detail is None:
        await message.answer(deps.text("privacy_correct_ask"), reply_markup=keyboards.main_menu())
        return
    try:
        req = await deps.db(
            deps.store.privacy_request,
            str(message.chat.id),
            str(kind),
            detail,
            deps.now(),
            working_days=deps.settings.privacy.answer_working_days,
            day_end=deps.settings.working_hours.end,
        )
    except DomainError as exc:
        name = "privacy_not_linked" if exc.refusal == "not_linked" else "error"
        await message.answer(deps.text(name), reply_markup=keyboards.main_menu())
        return
    text = deps.text("privacy_requested", id=req.id, kind=req.kind, deadline_at=req.deadline_at)
    await message.answer(text, reply_markup=keyboards.main_menu())


def build() -> Router:
    """A fresh router each time: aiogram attaches a router to one parent only."""
    router = Router(name="privacy")
    router.message.register(explain, Command("dulieu"))
    router.message.register(ask, Command(*COMMANDS))
    return router
