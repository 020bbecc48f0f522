"""The officers' side of the Telegram bot: the two buttons on an overdue alert.

"Đặt ngày hẹn mới" (`oa:n:<dossier id>`): the bot asks, as a message to reply to, for the new date and the
reason ("15/12/2026; Chờ ý kiến của Sở Nông nghiệp và Môi trường"); the reply runs the apology workflow
(new appointment, numbered slip, the citizen's apology). "Đã xử lý xong" (`oa:r:<id>`): the bot asks to
confirm (`oa:rc:<id>` / `oa:x:<id>`), then marks the dossier 9.

Who may act: the Telegram user must be an active officer whose TelegramChatId is their user id (the chat
with the bot), and the dossier must be assigned to them or belong to their agency.

Wiring (the chatbot's dispatcher includes this router, before its own catch-all text handlers):

    from notifier.bot.officer import build_router
    dp.include_router(build_router())          # or the module-level `router`, in one dispatcher only

Handlers need the notifier Service, or the chatbot's `deps` (BotDeps), in the dispatcher's workflow data:
`Dispatcher(service=service)` or `dp["service"] = service`. The reply to the date prompt is recognised
by the prompt it answers, so no FSM state is kept and a restart between the two messages loses nothing.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiogram import F, Router
from aiogram.types import CallbackQuery, ForceReply, InlineKeyboardButton, InlineKeyboardMarkup, Message
from sqlalchemy.orm import Session, sessionmaker

from notifier.config import Settings
from notifier.rules.clock import VN_TZ, Clock
from notifier.rules.officer_buttons import callback_data, parse_callback
from notifier.rules.statuses import status_name
from notifier.rules.workdays import WorkCalendar
from notifier.workflows.errors import DomainError
from notifier.workflows.officer_actions import (
    Actor,
    ApologyWorkflow,
    OfficerWorkflow,
    ResolveWorkflow,
    Wiring,
)

log = logging.getLogger(__name__)

PROMPT_HEAD = "Đặt ngày hẹn mới cho hồ sơ "
_PROMPT_CODE = re.compile(r"^Đặt ngày hẹn mới cho hồ sơ (\S+)")
NOT_AN_OFFICER = "Tài khoản Telegram này chưa được đăng ký là cán bộ trên hệ thống nhắc việc."


@dataclass(frozen=True)
class OfficerDeps:
    """The chatbot's deps carry what the officers' workflows need (`Wiring`) under other names."""

    factory: sessionmaker[Session]
    calendar: WorkCalendar
    settings: Settings
    clock: Clock


def _deps(data: dict[str, Any]) -> Wiring:
    service = data.get("service")
    if service is not None:
        return service  # type: ignore[no-any-return]
    deps = data.get("deps")
    if deps is not None:  # the citizen chatbot's BotDeps
        return OfficerDeps(deps.store.factory, deps.store.calendar, deps.settings, deps.clock)
    raise RuntimeError(
        "the officer router needs `service` (or the chatbot's `deps`) in the dispatcher's data"
    )


@dataclass
class _Outcome:
    ok: bool
    text: str
    code: str | None = None


def _vn_date(value: Any) -> str:
    return f"{value.astimezone(VN_TZ):%d/%m/%Y}"


# A workflow's refusal in the officer's words, by the rule that refused (DomainError.refusal).
_WORDS: dict[str, Callable[[DomainError], str]] = {
    "not_an_officer": lambda e: NOT_AN_OFFICER,
    # a button names the dossier by its id, which means nothing to the officer
    "dossier_unknown": lambda e: "Không tìm thấy hồ sơ" + (f" {e.value}." if e.field == "MaHoSo" else "."),
    "other_agency": lambda e: f"Đồng chí không thuộc cơ quan giải quyết hồ sơ {e.facts['dossier']}.",
    "date_missing": lambda e: "Thiếu ngày hẹn mới.",
    "date_invalid": lambda e: f"'{e.value}' không phải ngày hợp lệ (dd/mm/yyyy).",
    "reason_missing": lambda e: "Cần ghi lý do chậm trễ (lý do được in trên Mẫu 04).",
    "reason_too_long": lambda e: f"Lý do dài quá {e.facts['limit']} ký tự.",
    "new_date_status": lambda e: (
        f"Hồ sơ đang ở trạng thái '{status_name(e.value)}', không thể hẹn lại ngày trả."
    ),
    "no_appointment": lambda e: "Hồ sơ chưa có ngày hẹn trả để hẹn lại.",
    "date_past": lambda e: "Ngày hẹn mới phải sau thời điểm hiện tại.",
    "not_working_day": lambda e: f"Ngày {_vn_date(e.facts['new_due'])} không phải ngày làm việc.",
    "date_not_after_old": lambda e: f"Ngày hẹn mới phải sau ngày hẹn cũ ({_vn_date(e.facts['old_due'])}).",
    "date_unchanged": lambda e: "Hồ sơ đã có đúng ngày hẹn này.",
    "already_resolved": lambda e: f"Hồ sơ {e.facts['dossier']} đã được ghi nhận xử lý xong trước đó.",
    "resolve_status": lambda e: (
        f"Hồ sơ đang ở trạng thái '{status_name(e.value)}', không thể ghi nhận xử lý xong."
    ),
}


def _words(exc: DomainError) -> str:
    words = _WORDS.get(exc.refusal)
    return words(exc) if words is not None else f"{exc.field} '{exc.value}': {exc.reason}"


def refusal_text(exc: DomainError) -> str:
    """A refused action; a chat that is no officer's is told so plainly, as when pressing a button."""
    if exc.refusal == "not_an_officer":
        return NOT_AN_OFFICER
    return "Không thực hiện được: " + _words(exc)


def _check(d: Wiring, user_id: int, dossier_id: int) -> _Outcome:
    try:
        code = OfficerWorkflow(d).may_act(dossier_id, Actor("telegram", chat_id=user_id))
    except DomainError as exc:
        return _Outcome(False, _words(exc))
    return _Outcome(True, "", code)


def _resolve(d: Wiring, user_id: int, dossier_id: int) -> _Outcome:
    check = _check(d, user_id, dossier_id)
    if not check.ok or check.code is None:
        return check
    code = check.code
    try:
        done = ResolveWorkflow(d).resolve(code, Actor("telegram", chat_id=user_id))
    except DomainError as exc:
        return _Outcome(False, refusal_text(exc), code)
    at = done.at.astimezone(VN_TZ)
    return _Outcome(
        True,
        f"Đã ghi nhận hồ sơ {code} đã xử lý xong lúc {at:%H:%M %d/%m/%Y}. "
        "Người nộp sẽ được thông báo có kết quả.",
        code,
    )


def _new_date(d: Wiring, user_id: int, code: str, answer: str) -> _Outcome:
    date_text, sep, reason = answer.partition(";")
    if not sep:
        date_text, _, reason = answer.strip().partition("\n")
    by = Actor("telegram", chat_id=user_id)
    try:
        done = ApologyWorkflow(d).set_new_date(code, date_text.strip(), reason, by)
    except DomainError as exc:
        return _Outcome(False, refusal_text(exc), code)
    what = "điều chỉnh" if done.corrected else "lập"
    text = (
        f"Đã đặt ngày hẹn trả mới {_vn_date(done.new_due_at)} cho hồ sơ {code}. Văn bản xin lỗi và đề nghị "
        f"gia hạn (Mẫu 04) số {done.number} đã được {what}; người nộp sẽ nhận văn bản và ngày hẹn mới."
    )
    if not done.compliant:
        text += (
            f"\nLưu ý: đây là lần gia hạn thứ {done.extension_no} của hồ sơ, KHÔNG ĐÚNG QUY ĐỊNH (chỉ được "
            "gia hạn một lần). Lần gia hạn này vẫn được ghi nhận và nêu trong báo cáo."
        )
    return _Outcome(True, text, code)


def _confirm_keyboard(dossier_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(text="Xác nhận", callback_data=callback_data("rc", dossier_id)),
                InlineKeyboardButton(text="Huỷ", callback_data=callback_data("x", dossier_id)),
            ]
        ]
    )


async def on_button(callback: CallbackQuery, **data: Any) -> None:
    parsed = parse_callback(callback.data)
    if parsed is None:  # pragma: no cover - the filter lets only our prefix through
        return
    action, dossier_id = parsed
    d = _deps(data)
    user = callback.from_user.id
    message = callback.message if isinstance(callback.message, Message) else None
    if action == "x":
        await callback.answer("Đã huỷ.")
        if message is not None:
            await message.edit_text("Đã huỷ, hồ sơ chưa được ghi nhận xử lý xong.")
        return
    if action == "rc":
        outcome = await asyncio.to_thread(_resolve, d, user, dossier_id)
        await callback.answer(
            "Đã ghi nhận." if outcome.ok else "Không thực hiện được.", show_alert=not outcome.ok
        )
        if message is not None:
            await message.edit_text(outcome.text)
        return
    check = await asyncio.to_thread(_check, d, user, dossier_id)
    if not check.ok:
        await callback.answer(check.text, show_alert=True)
        return
    await callback.answer()
    if message is None:  # the alert is too old for Telegram to hand it back: answer in the user's chat
        return
    if action == "r":
        await message.answer(
            f"Xác nhận hồ sơ {check.code} đã xử lý xong?", reply_markup=_confirm_keyboard(dossier_id)
        )
        return
    await message.answer(
        f"{PROMPT_HEAD}{check.code}\n"
        "Trả lời tin nhắn này theo mẫu: ngày hẹn mới; lý do chậm trễ\n"
        "Ví dụ: 15/12/2026; Chờ ý kiến của cơ quan phối hợp",
        reply_markup=ForceReply(input_field_placeholder="dd/mm/yyyy; lý do"),
    )


async def on_new_date_reply(message: Message, **data: Any) -> None:
    prompt = message.reply_to_message
    assert prompt is not None and prompt.text is not None and message.from_user is not None
    match = _PROMPT_CODE.match(prompt.text)
    if match is None:
        return
    d = _deps(data)
    outcome = await asyncio.to_thread(_new_date, d, message.from_user.id, match[1], message.text or "")
    if outcome.ok:
        await message.answer(outcome.text)
    else:
        # Asking again keeps the reply-to link, so the officer only has to fix the line.
        await message.answer(
            f"{outcome.text}\n{PROMPT_HEAD}{match[1]}\n"
            "Trả lời tin nhắn này theo mẫu: ngày hẹn mới; lý do chậm trễ",
            reply_markup=ForceReply(input_field_placeholder="dd/mm/yyyy; lý do"),
        )


def build_router() -> Router:
    """A fresh router (aiogram attaches a router to one parent only)."""
    r = Router(name="officer-actions")
    r.callback_query.register(on_button, F.data.startswith("oa:"))
    r.message.register(
        on_new_date_reply,
        F.reply_to_message.from_user.is_bot,
        F.reply_to_message.text.startswith(PROMPT_HEAD),
        F.text,
    )
    return r


router = build_router()

__all__ = ["PROMPT_HEAD", "build_router", "refusal_text", "router"]
