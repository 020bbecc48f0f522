"""The officers' side of the conversation: the two buttons on an overdue alert, on any platform.

"Đặt ngày hẹn mới" (`oa:n:<dossier id>`): the core asks for the new date and the reason
("15/12/2026; Chờ ý kiến của Sở Tài nguyên và Môi trường"); the answer runs the apology workflow (new
appointment, numbered slip, the citizen's apology). "Đã xử lý xong" (`oa:r:<id>`): the core asks to
confirm (`oa:rc:<id>` / `oa:x:<id>`), then marks the dossier 9.

Who may act: the sender must be an active officer known by this conversation (on Telegram their
TelegramChatId is their user id), and the dossier must be assigned to them or belong to their agency.

Every reply goes through the `chat` catalog in the officer's chat language (`Sender.language`, Vietnamese
unless the chat chose English); the date answered is dd/mm/yyyy either way, and the reason is kept as
typed (it is printed on Mẫu 04). The new-date prompt is recognised in either language (`prompted_code`).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from notifier.rules.chat_keys import TELEGRAM, platform_of
from notifier.rules.i18n import DEFAULT_LANGUAGE, LANGUAGES, normalise_language
from notifier.rules.officer_buttons import callback_data, parse_callback
from notifier.rules.rendering import format_date, format_datetime
from notifier.rules.statuses import status_name
from notifier.workflows.conversation.api import PLATFORM_NAMES, Button, Outcome, Reply, Sender, t
from notifier.workflows.errors import DomainError
from notifier.workflows.officer_actions import (
    Actor,
    ApologyWorkflow,
    OfficerWorkflow,
    ResolveWorkflow,
    Wiring,
)


def _(message: str) -> str:
    """Marks a msgid for scripts/i18n (see api._); translated where shown."""
    return message


# The prompt's first line names the dossier; the officer's answer is matched to it by this line.
PROMPT = _("Đặt ngày hẹn mới cho hồ sơ %(code)s")
PROMPT_HEAD = "Đặt ngày hẹn mới cho hồ sơ "  # its Vietnamese head (the stand-alone router's filter)
PROMPT_PLACEHOLDER = _("dd/mm/yyyy; lý do")
NOT_AN_OFFICER = _("Tài khoản %(platform)s này chưa được đăng ký là cán bộ trên hệ thống nhắc việc.")
STEP_NEW_DATE = "OfficerNewDate"  # the state step of a platform without replies-to-a-message


def _prompt_heads() -> tuple[str, ...]:
    return tuple(t(language, PROMPT).split("%(code)s")[0] for language in LANGUAGES)


# At the start of a line (a repeated prompt begins with the refusal, then this line), in either language:
# a prompt sent before the officer switched language is still answered.
PROMPT_CODE = re.compile(
    r"^(?:" + "|".join(re.escape(head) for head in _prompt_heads()) + r")(\S+)", re.MULTILINE
)


def _not_an_officer(exc: DomainError, language: str) -> str:
    # The refusal names the chat (its conversation key): the account is named by its own platform.
    head = platform_of(str(exc.value))
    platform = next((name for p, name in PLATFORM_NAMES.items() if p.value == head), "Telegram")
    return t(language, NOT_AN_OFFICER) % {"platform": platform}


def _status(language: str, code: Any) -> str:
    return t(language, status_name(code))


# A workflow's refusal in the officer's words, by the rule that refused (DomainError.refusal).
_WORDS: dict[str, Callable[[DomainError, str], str]] = {
    "not_an_officer": lambda e, lang: _not_an_officer(e, lang),
    # a button names the dossier by its id, which means nothing to the officer
    "dossier_unknown": lambda e, lang: (
        t(lang, "Không tìm thấy hồ sơ %(code)s.") % {"code": e.value}
        if e.field == "MaHoSo"
        else t(lang, "Không tìm thấy hồ sơ.")
    ),
    "other_agency": lambda e, lang: (
        t(lang, "Đồng chí không thuộc cơ quan giải quyết hồ sơ %(code)s.") % {"code": e.facts["dossier"]}
    ),
    "date_missing": lambda e, lang: t(lang, "Thiếu ngày hẹn mới."),
    "date_invalid": lambda e, lang: (
        t(lang, "'%(value)s' không phải ngày hợp lệ (dd/mm/yyyy).") % {"value": e.value}
    ),
    "reason_missing": lambda e, lang: t(lang, "Cần ghi lý do chậm trễ (lý do được in trên Mẫu 04)."),
    "reason_too_long": lambda e, lang: (
        t(lang, "Lý do dài quá %(limit)s ký tự.") % {"limit": e.facts["limit"]}
    ),
    "new_date_status": lambda e, lang: (
        t(lang, "Hồ sơ đang ở trạng thái '%(status)s', không thể hẹn lại ngày trả.")
        % {"status": _status(lang, e.value)}
    ),
    "no_appointment": lambda e, lang: t(lang, "Hồ sơ chưa có ngày hẹn trả để hẹn lại."),
    "date_past": lambda e, lang: t(lang, "Ngày hẹn mới phải sau thời điểm hiện tại."),
    "not_working_day": lambda e, lang: (
        t(lang, "Ngày %(date)s không phải ngày làm việc.") % {"date": format_date(e.facts["new_due"])}
    ),
    "date_not_after_old": lambda e, lang: (
        t(lang, "Ngày hẹn mới phải sau ngày hẹn cũ (%(date)s).") % {"date": format_date(e.facts["old_due"])}
    ),
    "date_unchanged": lambda e, lang: t(lang, "Hồ sơ đã có đúng ngày hẹn này."),
    "already_resolved": lambda e, lang: (
        t(lang, "Hồ sơ %(code)s đã được ghi nhận xử lý xong trước đó.") % {"code": e.facts["dossier"]}
    ),
    "resolve_status": lambda e, lang: (
        t(lang, "Hồ sơ đang ở trạng thái '%(status)s', không thể ghi nhận xử lý xong.")
        % {"status": _status(lang, e.value)}
    ),
}


def words(exc: DomainError, language: str = DEFAULT_LANGUAGE) -> str:
    said = _WORDS.get(exc.refusal)
    return said(exc, language) if said is not None else f"{exc.field} '{exc.value}': {exc.reason}"


def refusal_text(exc: DomainError, language: str = DEFAULT_LANGUAGE) -> str:
    """A refused action; a chat that is no officer's is told so plainly, as when pressing a button."""
    if exc.refusal == "not_an_officer":
        return _not_an_officer(exc, language)
    return t(language, "Không thực hiện được: %(why)s") % {"why": words(exc, language)}


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


def prompt_text(code: str, lead: str = "", language: str = DEFAULT_LANGUAGE) -> str:
    text = lead + t(language, PROMPT) % {"code": code}
    text += "\n" + t(language, "Trả lời tin nhắn này theo mẫu: ngày hẹn mới; lý do chậm trễ")
    if not lead:
        text += "\n" + t(language, "Ví dụ: 15/12/2026; Chờ ý kiến của cơ quan phối hợp")
    return text


def _language(sender: Sender) -> str:
    return normalise_language(sender.language)


class OfficerFlows:
    """The officer's buttons and the new-date answer; each workflow call runs in a thread."""

    def __init__(self, wiring: Wiring) -> None:
        self.wiring = wiring

    def _check(self, by: Actor, dossier_id: int, language: str = DEFAULT_LANGUAGE) -> Step:
        try:
            code = OfficerWorkflow(self.wiring).may_act(dossier_id, by)
        except DomainError as exc:
            return Step(False, words(exc, language))
        return Step(True, "", code)

    def _resolve(self, by: Actor, dossier_id: int, language: str = DEFAULT_LANGUAGE) -> Step:
        check = self._check(by, dossier_id, language)
        if not check.ok or check.code is None:
            return check
        try:
            done = ResolveWorkflow(self.wiring).resolve(check.code, by)
        except DomainError as exc:
            return Step(False, refusal_text(exc, language), check.code)
        done_text = t(
            language,
            "Đã ghi nhận hồ sơ %(code)s đã xử lý xong lúc %(at)s. Người nộp sẽ được thông báo có kết quả.",
        )
        return Step(True, done_text % {"code": check.code, "at": format_datetime(done.at)}, check.code)

    def _new_date(self, by: Actor, code: str, answer: str, language: str = DEFAULT_LANGUAGE) -> Step:
        date_text, sep, reason = answer.partition(";")
        if not sep:
            date_text, _, reason = answer.strip().partition("\n")
        try:
            done = ApologyWorkflow(self.wiring).set_new_date(code, date_text.strip(), reason, by)
        except DomainError as exc:
            return Step(False, refusal_text(exc, language), code)
        if done.corrected:
            text = t(
                language,
                "Đã đặt ngày hẹn trả mới %(date)s cho hồ sơ %(code)s. Văn bản xin lỗi và đề nghị gia hạn "
                "(Mẫu 04) số %(number)s đã được điều chỉnh; người nộp sẽ nhận văn bản và ngày hẹn mới.",
            )
        else:
            text = t(
                language,
                "Đã đặt ngày hẹn trả mới %(date)s cho hồ sơ %(code)s. Văn bản xin lỗi và đề nghị gia hạn "
                "(Mẫu 04) số %(number)s đã được lập; người nộp sẽ nhận văn bản và ngày hẹn mới.",
            )
        text %= {"date": format_date(done.new_due_at), "code": code, "number": done.number}
        if not done.compliant:
            note = t(
                language,
                "Lưu ý: đây là lần gia hạn thứ %(n)s của hồ sơ, KHÔNG ĐÚNG QUY ĐỊNH (chỉ được gia hạn một "
                "lần). Lần gia hạn này vẫn được ghi nhận và nêu trong báo cáo.",
            )
            text += "\n" + note % {"n": done.extension_no}
        return Step(True, text, code)

    async def press(self, sender: Sender, payload: str) -> tuple[Outcome, str | None]:
        """An `oa:…` button: the outcome, and the dossier code when the core now waits for a new date."""
        parsed = parse_callback(payload)
        if parsed is None:
            return Outcome(), None
        action, dossier_id = parsed
        by = actor(sender)
        lang = _language(sender)
        if action == "x":
            reply = Reply(
                t(lang, "Đã huỷ, hồ sơ chưa được ghi nhận xử lý xong."), replace=True, language=lang
            )
            return Outcome((reply,), notice=t(lang, "Đã huỷ.")), None
        if action == "rc":
            done = await asyncio.to_thread(self._resolve, by, dossier_id, lang)
            notice = t(lang, "Đã ghi nhận.") if done.ok else t(lang, "Không thực hiện được.")
            reply = Reply(done.text, replace=True, language=lang)
            return Outcome((reply,), notice=notice, alert=not done.ok), None
        check = await asyncio.to_thread(self._check, by, dossier_id, lang)
        if not check.ok or check.code is None:
            return Outcome(notice=check.text, alert=True), None
        if action == "r":
            confirm = (
                (
                    Button(t(lang, "Xác nhận"), callback_data("rc", dossier_id)),
                    Button(t(lang, "Huỷ"), callback_data("x", dossier_id)),
                ),
            )
            question = t(lang, "Xác nhận hồ sơ %(code)s đã xử lý xong?") % {"code": check.code}
            return Outcome((Reply(question, buttons=confirm, language=lang),)), None
        reply = Reply(
            prompt_text(check.code, language=lang), ask_reply=t(lang, PROMPT_PLACEHOLDER), language=lang
        )
        return Outcome((reply,)), check.code

    async def new_date(self, sender: Sender, code: str, answer: str) -> Outcome:
        """The answer to the new-date prompt; a refusal asks again (only the line needs fixing)."""
        lang = _language(sender)
        done = await asyncio.to_thread(self._new_date, actor(sender), code, answer, lang)
        if done.ok:
            return Outcome((Reply(done.text, language=lang),))
        again = prompt_text(code, lead=done.text + "\n", language=lang)
        return Outcome((Reply(again, ask_reply=t(lang, PROMPT_PLACEHOLDER), language=lang),))


def prompted_code(text: str | None) -> str | None:
    """The dossier code of our new-date prompt, from the text of the message being answered."""
    match = PROMPT_CODE.search(text or "")
    return match[1] if match else None
