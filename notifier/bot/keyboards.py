"""The core's buttons as Telegram keyboards, and the typed callback data they carry.

The core (notifier.workflows.conversation) decides which buttons a reply has; this module only draws
them: ACTION buttons as an inline keyboard, the main menu as a persistent reply keyboard (CONTACT is its
request_contact button). The callback data formats are the core's (`payloads`); the CallbackData classes
below parse the same strings, so the routers accept only data of our own shapes.
"""

from __future__ import annotations

import functools

from aiogram.filters.callback_data import CallbackData
from aiogram.types import (
    ForceReply,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
)

from notifier.workflows.conversation import ButtonKind, Reply, Rows, Signer
from notifier.workflows.conversation import main_menu as menu_rows
from notifier.workflows.conversation.api import FEEDBACK, LOOKUP, MY_DOSSIERS, SHARE_PHONE, STOP

Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ForceReply | None

__all__ = [
    "FEEDBACK", "LOOKUP", "MY_DOSSIERS", "SHARE_PHONE", "STOP",
    "DossierAction", "FeedbackAction", "OfficerAction", "Signer", "main_menu", "markup",
]  # fmt: skip


class DossierAction(CallbackData, prefix="d"):
    """show: details of a linked dossier; sub: link it (signed); fb: feedback about it."""

    action: str
    id: int
    sig: str = ""


class FeedbackAction(CallbackData, prefix="fb"):
    action: str  # none (no dossier), cancel


class OfficerAction(CallbackData, prefix="oa"):
    """The officers' alert buttons (notifier.rules.officer_buttons)."""

    action: str
    id: int


def _reply_keyboard(rows: Rows) -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(
        keyboard=[
            [KeyboardButton(text=b.label, request_contact=b.kind == ButtonKind.CONTACT or None) for b in row]
            for row in rows
        ],
        resize_keyboard=True,
        is_persistent=True,
    )


@functools.cache  # drawn once per language: the same keyboard goes with many replies
def main_menu(language: str = "vi") -> ReplyKeyboardMarkup:
    return _reply_keyboard(menu_rows(language))


def inline(rows: Rows) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=b.label, callback_data=b.payload) for b in row] for row in rows
        ]
    )


def markup(reply: Reply) -> Markup:
    """One reply's keyboard: Telegram takes one per message, so inline buttons win over the menu."""
    if reply.buttons:
        return inline(reply.buttons)
    if reply.ask_reply is not None:
        return ForceReply(input_field_placeholder=reply.ask_reply)
    if reply.menu:
        return main_menu(reply.language)
    return None
