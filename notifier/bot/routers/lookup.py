"""Status lookup: `MAHOSO 1234`, `/tracuu MAHOSO 1234`, or `/tracuu MAHOSO` from a linked chat."""

from __future__ import annotations

import math
from typing import TypedDict

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.types import InlineKeyboardMarkup, Message

from notifier.bot import keyboards
from notifier.bot.deps import BotDeps
from notifier.rules.lookup import Query, parse_query
from notifier.workflows.chat import Found, LookupResult


async def run_lookup(message: Message, deps: BotDeps, query: Query) -> LookupResult:
    """Look up and reply; the caller gets the result (the feedback form uses the dossier it found)."""
    chat_id = message.chat.id
    now = deps.now()
    # Updates of one chat are handled one at a time (the dispatcher's event isolation), so a burst of
    # guesses cannot all pass the failure count before any of them is recorded.
    result = await deps.db(deps.store.lookup, str(chat_id), query, now)
    if result.outcome == "found" and result.found is not None:
        await message.answer(**found_reply(deps, chat_id, result.found))
    elif result.outcome == "slowed" and result.retry_at is not None:
        minutes = max(1, math.ceil((result.retry_at - now).total_seconds() / 60))
        await message.answer(deps.text("lookup_slowed", minutes=minutes, retry_at=result.retry_at))
    elif result.outcome == "need_digits":
        await message.answer(deps.text("lookup_need_digits", code=query.code))
    else:
        await message.answer(deps.text("lookup_not_found"))
    return result


class Reply(TypedDict):
    text: str
    reply_markup: InlineKeyboardMarkup | None


def found_reply(deps: BotDeps, chat_id: int, found: Found) -> Reply:
    """The lookup_result text; a chat not yet linked to the dossier gets a signed subscribe button."""
    text = deps.text("lookup_result", dossier=found.view, agency=found.agency, subscribable=not found.linked)
    markup = None
    if not found.linked:
        markup = keyboards.subscribe(found.dossier_id, deps.signer.sign(chat_id, found.dossier_id))
    return {"text": text, "reply_markup": markup}


async def tracuu(message: Message, command: CommandObject, deps: BotDeps, state: FSMContext) -> None:
    await state.clear()
    query = parse_query(command.args or "")
    if query is None:
        await message.answer(deps.text("lookup_prompt"))
        return
    await run_lookup(message, deps, query)


async def typed(message: Message, query: Query, deps: BotDeps) -> None:
    await run_lookup(message, deps, query)


def build() -> Router:
    """A fresh router each time: aiogram attaches a router to one parent only."""
    router = Router(name="lookup")
    router.message.register(tracuu, Command("tracuu"))
    router.message.register(typed, F.text.func(parse_query).as_("query"))
    return router
