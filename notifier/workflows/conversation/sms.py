"""Inbound SMS as a conversation: the keywords are the core's events, the core's answers SMS text.

- TRACUU <mã hồ sơ> <4 số cuối> runs the core's look-up: the core decides (the sender's own number counts
  as a link, the 4 digits, the database-backed slow-down after repeated misses, the same answer whether a
  code exists or not).
- HUY / DK are the core's stop and resume (/huy, /batdau): the opt-out and opt-in of the medium "sms",
  keyed by the number itself, recorded as every platform's are.
- Anything else gets the keyword help.

This adapter only words the answer short, as every reply is billed as an SMS (the core's chat texts speak
of /batdau and of "SMS still comes", which an SMS must not say); a core reply with buttons becomes
numbered lines (`sms_text`).
"""

from __future__ import annotations

import math

from notifier.outbox.inbound import (
    REPLY_HELP,
    REPLY_LOOKUP_USAGE,
    REPLY_OPT_IN,
    REPLY_OPT_OUT,
    parse,
    reply_not_found,
)
from notifier.rules.lookup import CitizenView, Query
from notifier.rules.phones import phone_or_none
from notifier.rules.rendering import format_date
from notifier.workflows.conversation.api import (
    ChatState,
    MemoryChatState,
    Outcome,
    Platform,
    Sender,
    TextIn,
    numbered,
)
from notifier.workflows.conversation.core import Conversation

REPLY_NEED_DIGITS = "Soạn TRACUU <mã hồ sơ> <4 số cuối điện thoại> để tra cứu, ví dụ: TRACUU {code} 5678."
REPLY_SLOWED = "Quý khách đã tra cứu sai nhiều lần. Vui lòng thử lại sau {minutes} phút."

# The SMS keyword -> the core's command, and the short SMS that confirms it.
KEYWORDS = {"opt_out": ("/huy", REPLY_OPT_OUT), "opt_in": ("/batdau", REPLY_OPT_IN)}


def status_text(v: CitizenView) -> str:
    """The status name and one date: short, as every reply is billed."""
    text = f"Hồ sơ {v.code}: {v.status_name}."
    if v.returned_at is not None:
        text += f" Đã trả kết quả ngày {format_date(v.returned_at)}."
    elif v.due_at is not None and v.status not in (9, 10):  # 9: done, waiting to be collected
        text += f" Hẹn trả kết quả: {format_date(v.due_at)}."
    return text


def sender_of(number: str) -> Sender:
    """An SMS's sender: the carrier vouches for the number, so the dossiers of that number are its own."""
    phone = phone_or_none(number)
    return Sender(Platform.SMS, chat_id=phone or number, phone=phone)


async def lookup_reply(conversation: Conversation, number: str, text: str) -> str | None:
    """The reply to a TRACUU message through the core; None when `text` is no look-up with a code."""
    command = parse(text)
    if command.action != "lookup":
        return None
    if not command.argument:
        return REPLY_LOOKUP_USAGE
    query = Query(command.argument, command.digits)
    now = conversation.clock.now()
    _, result = await conversation.lookup(sender_of(number), query)
    if result.outcome == "found" and result.found is not None:
        return status_text(result.found.view)
    if result.outcome == "slowed" and result.retry_at is not None:
        minutes = max(1, math.ceil((result.retry_at - now).total_seconds() / 60))
        return REPLY_SLOWED.format(minutes=minutes)
    if result.outcome == "need_digits":
        # The old answer to a code without digits from another number: nothing about the dossier.
        return reply_not_found(command.argument) + " " + REPLY_NEED_DIGITS.format(code=command.argument)
    return reply_not_found(command.argument)


def sms_text(outcome: Outcome) -> str:
    """A core answer as one SMS: its replies' texts, buttons as numbered lines (SMS has none)."""
    return "\n".join(numbered(reply)[0] for reply in outcome.replies)


async def reply(conversation: Conversation, number: str, text: str, state: ChatState | None = None) -> str:
    """Apply one inbound SMS through the core and return the SMS to answer with."""
    command = parse(text)
    if command.action == "lookup":
        answer = await lookup_reply(conversation, number, text)
        assert answer is not None  # a look-up always has one
        return answer
    if command.action in KEYWORDS:
        core_command, confirmation = KEYWORDS[command.action]
        outcome = await conversation.handle(
            TextIn(sender_of(number), core_command), state or MemoryChatState()
        )
        # The core answers stop/resume in chat words; the SMS words it short, as billed (an empty
        # outcome would mean the core did nothing, and then no confirmation is due).
        return confirmation if outcome.replies else sms_text(outcome)
    return REPLY_HELP
