"""SMS a citizen sends us: HUY/STOP (stop SMS), DK (start again), TRACUU <MaHoSo> (status look-up).

`parse` is pure: any case, with or without diacritics ("Hủy", "huỷ", "HUY"), extra spaces and
punctuation. What a command does (the opt-out, the look-up with its anti-enumeration rules) is the
conversation core's (notifier.workflows.conversation.sms); `handle` logs the exchange with the reply the
core gave, and `seen` answers a provider's re-delivery from that log without applying it again.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from notifier.rules.dossier_view import DossierView
from notifier.rules.lookup import phone_digits
from notifier.rules.phones import phone_or_none
from notifier.rules.rendering import format_date
from notifier.rules.smstext import khong_dau
from notifier.store.models import InboundMessage

Action = Literal["opt_out", "opt_in", "lookup", "unknown"]

_OPT_OUT = {"HUY", "TUCHOI", "STOP", "STOPALL", "UNSUBSCRIBE"}
_OPT_IN = {"DK", "DANGKY", "START"}
_LOOKUP = {"TRACUU", "TC"}
# "TC" alone is "từ chối" to a Vietnamese phone user (the usual way to refuse a sender's SMS); followed by a
# code it is short for TRACUU. Stopping a look-up by mistake is undone with DK; sending on to someone who
# asked to stop is not undone.
_REFUSE_ALONE = {"TC"}
_CODE_MAX = 64  # MaHoSo column width; longer input is not a code and is not echoed back whole
_WORDS = re.compile(r"[^\w.\-]+")


@dataclass(frozen=True)
class Command:
    action: Action
    argument: str | None = None  # the dossier code for a look-up
    digits: str | None = None  # TRACUU <mã> <4 số>: the last 4 digits of the applicant's phone


def parse(text: str) -> Command:
    """Read the first word as the keyword; "TRA CUU X" counts as "TRACUU X"."""
    folded = khong_dau(unicodedata.normalize("NFC", text)).upper()
    words = [w.strip(".-") for w in _WORDS.split(folded) if w.strip(".-")]  # "HUY." is HUY
    if not words:
        return Command("unknown")
    head, rest = words[0], words[1:]
    if head == "TRA" and rest[:1] == ["CUU"]:
        head, rest = "TRACUU", rest[1:]
    elif head == "DANG" and rest[:1] == ["KY"]:
        head, rest = "DANGKY", rest[1:]
    elif head == "TU" and rest[:1] == ["CHOI"]:
        head, rest = "TUCHOI", rest[1:]
    if head in _OPT_OUT or (head in _REFUSE_ALONE and not rest):
        return Command("opt_out")
    if head in _OPT_IN:
        return Command("opt_in")
    if head in _LOOKUP:
        return Command("lookup", rest[0][:_CODE_MAX] if rest else None, _digits(rest[1:]))
    return Command("unknown")


def _digits(words: list[str]) -> str | None:
    """The last 4 digits of the applicant's phone after the code (rules.lookup.phone_digits), or the first
    word when it is those 4 digits and something follows ("TRACUU <mã> 1234 cam on")."""
    return phone_digits(words) or phone_digits(words[:1])


# -- replies (NFC Vietnamese, short: each is billed as an SMS) -----------------------------------------------

REPLY_OPT_OUT = "Quý khách đã ngừng nhận tin nhắn SMS thông báo hồ sơ. Soạn DK gửi số này để nhận lại."
REPLY_OPT_IN = "Quý khách đã đăng ký nhận lại tin nhắn SMS thông báo hồ sơ. Soạn HUY để ngừng nhận."
REPLY_HELP = "Cú pháp: TRACUU <mã hồ sơ> để tra cứu, HUY để ngừng nhận tin, DK để nhận lại."
REPLY_LOOKUP_USAGE = "Soạn TRACUU <mã hồ sơ> để tra cứu tình trạng hồ sơ."


def reply_not_found(code: str) -> str:
    return f"Không tìm thấy hồ sơ {code} gắn với số điện thoại này."


def reply_status(v: DossierView) -> str:
    """The status name and one date: short, as every reply is billed."""
    text = f"Hồ sơ {v.code}: {v.status_name}."
    if v.due_at is not None and not v.resolved:
        text += f" Hẹn trả kết quả: {format_date(v.due_at)}."
    elif v.returned_at is not None:
        text += f" Đã trả kết quả ngày {format_date(v.returned_at)}."
    return text


def seen(session: Session, channel: str, provider_id: str | None) -> Handled | None:
    """The answer already given to this provider message id (providers re-send), or None."""
    if not provider_id:
        return None
    same = (InboundMessage.channel == channel) & (InboundMessage.provider_id == provider_id)
    row = session.scalar(select(InboundMessage).where(same))
    if row is None:
        return None
    return Handled(row.reply or "", parse(row.body), row.id, duplicate=True)


@dataclass(frozen=True)
class Handled:
    reply: str
    command: Command
    inbound_id: int
    duplicate: bool = False  # the provider re-sent a message we already answered


def handle(
    session: Session,
    channel: str,
    sender: str,
    text: str,
    now: datetime,
    *,
    reply: str,
    provider_id: str | None = None,
) -> Handled:
    """Log one inbound SMS and the `reply` the conversation core gave it in `inbound_messages`."""
    earlier = seen(session, channel, provider_id)
    if earlier is not None:
        return earlier
    command = parse(text)
    row = InboundMessage(
        channel=channel,
        provider_id=provider_id,
        sender=(phone_or_none(sender) or sender)[:32],
        body=text,
        command=command.action,
        reply=unicodedata.normalize("NFC", reply),
        received_at=now,
    )
    session.add(row)
    session.flush()
    return Handled(row.reply or "", command, row.id)
