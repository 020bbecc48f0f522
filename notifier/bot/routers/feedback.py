"""Feedback (phản ánh, kiến nghị) in two steps: which dossier (optional), then the text."""

from __future__ import annotations

import logging

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message

from notifier.bot import keyboards
from notifier.bot.deps import BotDeps
from notifier.bot.keyboards import DossierAction, FeedbackAction
from notifier.bot.routers.lookup import run_lookup
from notifier.rules.lookup import parse_query
from notifier.workflows import feedback as fb

log = logging.getLogger(__name__)


class FeedbackForm(StatesGroup):
    dossier = State()
    text = State()


def _limits() -> dict[str, int]:
    return {"min_length": fb.MIN_LENGTH, "max_length": fb.MAX_LENGTH}


async def begin(message: Message, deps: BotDeps, state: FSMContext) -> None:
    await state.clear()
    rows, _ = await deps.db(deps.store.my_dossiers, str(message.chat.id), deps.now())
    await state.set_state(FeedbackForm.dossier)
    await message.answer(
        deps.text("feedback_choose", has_dossiers=bool(rows)),
        reply_markup=keyboards.feedback_choose((i, v.code) for i, v in rows),
    )


async def _ask_text(bot: Bot, chat_id: int, deps: BotDeps, state: FSMContext, code: str | None) -> None:
    await state.set_state(FeedbackForm.text)
    await bot.send_message(
        chat_id,
        deps.text("feedback_ask_text", code=code, **_limits()),
        reply_markup=keyboards.feedback_cancel(),
    )


async def chose_dossier(
    query: CallbackQuery, callback_data: DossierAction, deps: BotDeps, state: FSMContext, bot: Bot
) -> None:
    await query.answer()
    chat_id = query.message.chat.id if query.message else query.from_user.id
    found = await deps.db(deps.store.linked_dossier, str(chat_id), callback_data.id, deps.now())
    if found is None:
        await bot.send_message(chat_id, deps.text("action_expired"))
        return
    await state.update_data(dossier_id=found.dossier_id)
    await _ask_text(bot, chat_id, deps, state, found.view.code)


async def no_dossier(query: CallbackQuery, deps: BotDeps, state: FSMContext, bot: Bot) -> None:
    await query.answer()
    chat_id = query.message.chat.id if query.message else query.from_user.id
    await state.update_data(dossier_id=None)
    await _ask_text(bot, chat_id, deps, state, None)


async def cancel(query: CallbackQuery, deps: BotDeps, state: FSMContext, bot: Bot) -> None:
    await query.answer()
    chat_id = query.message.chat.id if query.message else query.from_user.id
    await state.clear()
    await bot.send_message(chat_id, deps.text("feedback_cancelled"), reply_markup=keyboards.main_menu())


async def typed_dossier(message: Message, deps: BotDeps, state: FSMContext, bot: Bot) -> None:
    """A dossier the chat is not linked to: `MAHOSO 1234`, checked (and counted) like any lookup."""
    query = parse_query(message.text or "")
    if query is None:
        rows, _ = await deps.db(deps.store.my_dossiers, str(message.chat.id), deps.now())
        await message.answer(
            deps.text("feedback_choose", has_dossiers=bool(rows)),
            reply_markup=keyboards.feedback_choose((i, v.code) for i, v in rows),
        )
        return
    result = await run_lookup(message, deps, query)
    if result.found is not None:
        await state.update_data(dossier_id=result.found.dossier_id)
        await _ask_text(bot, message.chat.id, deps, state, result.found.view.code)


async def typed_text(message: Message, deps: BotDeps, state: FSMContext) -> None:
    text = (message.text or "").strip()
    if not fb.MIN_LENGTH <= len(text) <= fb.MAX_LENGTH:
        await message.answer(
            deps.text("feedback_invalid", **_limits()), reply_markup=keyboards.feedback_cancel()
        )
        return
    data = await state.get_data()
    bot_settings = deps.settings.bot
    try:
        submitted = await deps.db(
            deps.store.submit_feedback,
            str(message.chat.id),
            str(message.from_user.id) if message.from_user else None,
            data.get("dossier_id"),
            text,
            deps.now(),
            default_agency=bot_settings.feedback_agency,
            working_days=bot_settings.feedback_answer_working_days,
            day_end=deps.settings.working_hours.end,
        )
    except fb.FeedbackLimited as exc:
        await state.clear()
        await message.answer(deps.text("feedback_limited", retry_at=exc.retry_at))
        return
    await state.clear()
    log.info(
        "feedback %s from chat %s: %d officers alerted",
        submitted.feedback.id,
        message.chat.id,
        submitted.officers_alerted,
    )
    await message.answer(
        deps.text(
            "feedback_sent",
            id=submitted.feedback.id,
            agency_name=submitted.agency_name,
            deadline_at=submitted.feedback.deadline_at,
        ),
        reply_markup=keyboards.main_menu(),
    )


async def not_text(message: Message, deps: BotDeps) -> None:
    # A photo or sticker: the form takes text only (attachments would need storage and scanning).
    await message.answer(deps.text("feedback_invalid", **_limits()), reply_markup=keyboards.feedback_cancel())


def build() -> Router:
    """A fresh router each time: aiogram attaches a router to one parent only."""
    router = Router(name="feedback")
    router.message.register(begin, Command("phananh"))
    router.message.register(begin, F.text == keyboards.FEEDBACK)
    router.callback_query.register(
        chose_dossier, FeedbackForm.dossier, DossierAction.filter(F.action == "fb")
    )
    router.callback_query.register(
        no_dossier, FeedbackForm.dossier, FeedbackAction.filter(F.action == "none")
    )
    router.callback_query.register(cancel, FeedbackAction.filter(F.action == "cancel"))
    router.message.register(typed_dossier, FeedbackForm.dossier, F.text, ~F.text.startswith("/"))
    router.message.register(typed_text, FeedbackForm.text, F.text, ~F.text.startswith("/"))
    router.message.register(not_text, FeedbackForm.text, ~F.text.startswith("/"))
    return router
