"""Keyboards and callback data.

The reply keyboard's labels are fixed here, not in the editable texts: the handlers recognise a button
by its label, and keyboards already sent stay on citizens' phones after an edit.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from aiogram.filters.callback_data import CallbackData
from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
)

LOOKUP = "Tra cứu hồ sơ"
SHARE_PHONE = "Chia sẻ số điện thoại"
MY_DOSSIERS = "Hồ sơ của tôi"
FEEDBACK = "Gửi phản ánh, kiến nghị"
STOP = "Hủy nhận tin"
MENU_LABELS = frozenset({LOOKUP, SHARE_PHONE, MY_DOSSIERS, FEEDBACK, STOP})

SUBSCRIBE = "Nhận thông báo hồ sơ này qua Telegram"
NO_DOSSIER = "Không gắn với hồ sơ"
CANCEL = "Hủy"
AGREE = "Đồng ý"


class DossierAction(CallbackData, prefix="d"):
    """show: details of a linked dossier; sub: link it (signed); fb: feedback about it."""

    action: str
    id: int
    sig: str = ""


class FeedbackAction(CallbackData, prefix="fb"):
    action: str  # none (no dossier), cancel


class Signer:
    """Signs the dossier ids the bot puts in "subscribe" buttons for one chat.

    Telegram hands back whatever callback data a client sends, so an id alone could be swapped for
    another dossier's; the signature ties the button to the chat the lookup was proven in.
    """

    def __init__(self, token: str) -> None:
        self._key = hashlib.sha256(b"notifier-bot-callback:" + token.encode()).digest()

    def sign(self, chat_id: int | str, dossier_id: int) -> str:
        mac = hmac.new(self._key, f"{chat_id}:{dossier_id}".encode(), hashlib.sha256)
        return mac.hexdigest()[:20]

    def verify(self, chat_id: int | str, dossier_id: int, sig: str) -> bool:
        return hmac.compare_digest(self.sign(chat_id, dossier_id), sig)


def main_menu() -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(
        keyboard=[
            [KeyboardButton(text=LOOKUP), KeyboardButton(text=MY_DOSSIERS)],
            [KeyboardButton(text=SHARE_PHONE, request_contact=True)],
            [KeyboardButton(text=FEEDBACK)],
            [KeyboardButton(text=STOP)],
        ],
        resize_keyboard=True,
        is_persistent=True,
    )


def subscribe(dossier_id: int, sig: str) -> InlineKeyboardMarkup:
    data = DossierAction(action="sub", id=dossier_id, sig=sig).pack()
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text=SUBSCRIBE, callback_data=data)]])


def confirm_link(link_id: int, sig: str) -> InlineKeyboardMarkup:
    """The button a linked chat presses to let another chat receive the dossier's notices."""
    data = DossierAction(action="ok", id=link_id, sig=sig).pack()
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text=AGREE, callback_data=data)]])


def dossier_list(
    dossiers: Iterable[tuple[int, str]], action: str = "show"
) -> list[list[InlineKeyboardButton]]:
    return [
        [InlineKeyboardButton(text=code, callback_data=DossierAction(action=action, id=dossier_id).pack())]
        for dossier_id, code in dossiers
    ]


def my_dossiers(dossiers: Iterable[tuple[int, str]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=dossier_list(dossiers))


def feedback_choose(dossiers: Iterable[tuple[int, str]]) -> InlineKeyboardMarkup:
    rows = dossier_list(dossiers, action="fb")
    rows.append([InlineKeyboardButton(text=NO_DOSSIER, callback_data=FeedbackAction(action="none").pack())])
    rows.append([InlineKeyboardButton(text=CANCEL, callback_data=FeedbackAction(action="cancel").pack())])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def feedback_cancel() -> InlineKeyboardMarkup:
    data = FeedbackAction(action="cancel").pack()
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text=CANCEL, callback_data=data)]])
