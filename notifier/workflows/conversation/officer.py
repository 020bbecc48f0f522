"""The officers' side of the conversation: the two buttons on an overdue alert, on any platform.

"Đặt ngày hẹn mới" (`oa:n:<dossier id>`): the core asks for the new date and the reason
("15/12/2026; Chờ ý kiến của Sở Tài nguyên và Môi trường"); the answer runs the apology workflow (new
appointment, numbered slip, the citizen's apology). "Đã xử lý xong" (`oa:r:<id>`): the core asks to
confirm (`oa:rc:<id>` / `oa:x:<id>`), then marks the dossier 9.

Who may act: the sender must be an active officer known by this conversation (on Telegram their
TelegramChatId is their user id), and the dossier must be assigned to them or belong to their agency.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from notifier.rules.chat_keys import TELEGRAM
from notifier.rules.clock import VN_TZ
from notifier.rules.officer_buttons import callback_data, parse_callback
from notifier.rules.statuses import status_name
from notifier.workflows.conversation.api import Button, Outcome, Reply, Sender
from notifier.workflows.errors import DomainError
from notifier.workflows.officer_actions import (
    Actor,
    ApologyWorkflow,
    OfficerWorkflow,
    ResolveWorkflow,
    Wiring,
)

PROMPT_HEAD = "Đặt ngày hẹn mới cho hồ sơ "
# At the start of a line: a repeated prompt begins with the refusal, then this line.
PROMPT_CODE = re.compile(r"^Đặt ngày hẹn mới cho hồ sơ (\S+)", re.MULTILINE)
PROMPT_PLACEHOLDER = "dd/mm/yyyy; lý do"
NOT_AN_OFFICER = "Tài khoản Telegram này chưa được đăng ký là cán bộ trên hệ thống nhắc việc."
STEP_NEW_DATE = "OfficerNewDate"  # the state step of a platform without replies-to-a-message


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
    "reason_missing": lambda e: "Cần ghi lý do chậm trễ (lý do được in trên Phiếu xin lỗi).",
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


def words(exc: DomainError) -> str:
    said = _WORDS.get(exc.refusal)
    return said(exc) if said is not None else f"{exc.field} '{exc.value}': {exc.reason}"


def refusal_text(exc: DomainError) -> str:
    """A refused action; a chat that is no officer's is told so plainly, as when pressing a button."""
    if exc.refusal == "not_an_officer":
        return NOT_AN_OFFICER
    return "Không thực hiện được: " + words(exc)


def actor(sender: Sender) -> Actor:
    """The officer as the workflows know them: on Telegram by their user id (their TelegramChatId).

    Other platforms name the officer by the conversation key ("zalo_oa:…"), which matches no
    TelegramChatId: they are refused until an officer's link for that platform exists.
    """
    who = sender.user_id or sender.chat_id
    if sender.platform == TELEGRAM:
        return Actor(TELEGRAM, chat_id=int(who) if who.lstrip("-").isdigit() else who)
    return Actor(sender.platform.value, chat_id=sender.key)


@dataclass(frozen=True)
class Step:
    ok: bool
    text: str
    code: str | None = None


def prompt_text(code: str, lead: str = "") -> str:
    return f"{lead}{PROMPT_HEAD}{code}\nTrả lời tin nhắn này theo mẫu: ngày hẹn mới; lý do chậm trễ" + (
        "" if lead else "\nVí dụ: 15/12/2026; Chờ ý kiến của cơ quan phối hợp"
    )


class OfficerFlows:
    """The officer's buttons and the new-date answer; each workflow call runs in a thread."""

    def __init__(self, wiring: Wiring) -> None:
        self.wiring = wiring

    def _check(self, by: Actor, dossier_id: int) -> Step:
        try:
            code = OfficerWorkflow(self.wiring).may_act(dossier_id, by)
        except DomainError as exc:
            return Step(False, words(exc))
        return Step(True, "", code)

    def _resolve(self, by: Actor, dossier_id: int) -> Step:
        check = self._check(by, dossier_id)
        if not check.ok or check.code is None:
            return check
        try:
            done = ResolveWorkflow(self.wiring).resolve(check.code, by)
        except DomainError as exc:
            return Step(False, refusal_text(exc), check.code)
        at = done.at.astimezone(VN_TZ)
        return Step(
            True,
            f"Đã ghi nhận hồ sơ {check.code} đã xử lý xong lúc {at:%H:%M %d/%m/%Y}. "
            "Người nộp sẽ được thông báo có kết quả.",
            check.code,
        )

    def _new_date(self, by: Actor, code: str, answer: str) -> Step:
        date_text, sep, reason = answer.partition(";")
        if not sep:
            date_text, _, reason = answer.strip().partition("\n")
        try:
            done = ApologyWorkflow(self.wiring).set_new_date(code, date_text.strip(), reason, by)
        except DomainError as exc:
            return Step(False, refusal_text(exc), code)
        what = "điều chỉnh" if done.corrected else "lập"
        return Step(
            True,
            f"Đã đặt ngày hẹn trả mới {_vn_date(done.new_due_at)} cho hồ sơ {code}. Phiếu xin lỗi số "
            f"{done.number} đã được {what}; người nộp sẽ nhận thư xin lỗi và ngày hẹn mới.",
            code,
        )

    async def press(self, sender: Sender, payload: str) -> tuple[Outcome, str | None]:
        """An `oa:…` button: the outcome, and the dossier code when the core now waits for a new date."""
        parsed = parse_callback(payload)
        if parsed is None:
            return Outcome(), None
        action, dossier_id = parsed
        by = actor(sender)
        if action == "x":
            reply = Reply("Đã huỷ, hồ sơ chưa được ghi nhận xử lý xong.", replace=True)
            return Outcome((reply,), notice="Đã huỷ."), None
        if action == "rc":
            done = await asyncio.to_thread(self._resolve, by, dossier_id)
            notice = "Đã ghi nhận." if done.ok else "Không thực hiện được."
            return Outcome((Reply(done.text, replace=True),), notice=notice, alert=not done.ok), None
        check = await asyncio.to_thread(self._check, by, dossier_id)
        if not check.ok or check.code is None:
            return Outcome(notice=check.text, alert=True), None
        if action == "r":
            confirm = (
                (
                    Button("Xác nhận", callback_data("rc", dossier_id)),
                    Button("Huỷ", callback_data("x", dossier_id)),
                ),
            )
            return Outcome((Reply(f"Xác nhận hồ sơ {check.code} đã xử lý xong?", buttons=confirm),)), None
        reply = Reply(prompt_text(check.code), ask_reply=PROMPT_PLACEHOLDER)
        return Outcome((reply,)), check.code

    async def new_date(self, sender: Sender, code: str, answer: str) -> Outcome:
        """The answer to the new-date prompt; a refusal asks again (only the line needs fixing)."""
        done = await asyncio.to_thread(self._new_date, actor(sender), code, answer)
        if done.ok:
            return Outcome((Reply(done.text),))
        return Outcome((Reply(prompt_text(code, lead=done.text + "\n"), ask_reply=PROMPT_PLACEHOLDER),))


def prompted_code(text: str | None) -> str | None:
    """The dossier code of our new-date prompt, from the text of the message being answered."""
    match = PROMPT_CODE.search(text or "")
    return match[1] if match else None
