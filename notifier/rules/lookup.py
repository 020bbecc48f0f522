"""Lookup rules as plain functions: parse what a citizen typed, check the phone digits, throttle guessing,
and take a citizen's part of a dossier's view. No I/O here; the handlers fetch the rows and pass the clock's
time."""

from __future__ import annotations

import hmac
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from notifier.rules.dossier_view import DossierView
from notifier.rules.phones import InvalidPhone, last_digits, phone_or_none
from notifier.rules.smstext import khong_dau
from notifier.rules.statuses import Status

DIGITS = 4

# A dossier code is letters, digits and . - _ / (e.g. 000.00.30.H26-261120-0001); the digits follow it.
_CODE = re.compile(r"[0-9A-Za-z][0-9A-Za-z.\-_/]{2,63}")
_DIGITS_ONLY = re.compile(rf"\d{{{DIGITS}}}")
# Between the words of a query: spaces, and the , ; : people put after the code. Quotes and brackets
# around a copied code are dropped.
_WORD_BREAKS = re.compile(r"[\s,;:]+")
_QUOTES = re.compile(r"[\"'`\u2018\u2019\u201c\u201d\u00ab\u00bb()\[\]<>]")
# A code typed with spaces around its dots and dashes ("000.00.30.H26 - 261120 - 0001").
_SPACED_JOINS = re.compile(r"\s*([.\-_/])\s*")
# Words people put before the code ("tra cứu", "TRACUU", "mã hồ sơ"), without diacritics, lower case.
_LEAD_WORDS = frozenset({"tra", "cuu", "tracuu", "ma", "ho", "so", "hoso", "mahoso", "hs", "mahs", "mhs"})
_PHONE_MIN_DIGITS = 8


@dataclass(frozen=True)
class Query:
    code: str
    digits: str | None  # None: the chat asks about a dossier it is linked to, or forgot the digits


def parse_query(text: str) -> Query | None:
    """`MAHOSO 1234` (or `MAHOSO`) from what a citizen typed; None when it does not look like one.

    As people type it: NFKC first (phone keyboards and copy-paste bring full-width digits and odd
    spaces); "tra cứu" / "TRACUU" / "mã hồ sơ" before the code; the code in quotes, with a full stop
    after it or spaces around its dashes; the whole phone number (0912 345 678, +84 912…) instead of
    its last four digits, of which only those four are kept.
    """
    cleaned = _QUOTES.sub(" ", unicodedata.normalize("NFKC", text))
    words = [w for w in _WORD_BREAKS.split(cleaned) if w]
    while words and khong_dau(words[0]).lower() in _LEAD_WORDS:
        words = words[1:]
    for split in range(1, len(words)):
        code = _code(words[:split])
        digits = phone_digits(words[split:]) if code is not None else None
        if code is not None and digits is not None:
            return Query(code, digits)
    code = _code(words)
    return Query(code, None) if code is not None else None


def _code(words: list[str]) -> str | None:
    code = _SPACED_JOINS.sub(r"\1", " ".join(words)).strip(".-_/")
    if not _CODE.fullmatch(code):
        return None
    # A bare number is a phone number, and a word without digits ("hello") is chatter: codes have both.
    if code.isdigit() or not any(ch.isdigit() for ch in code):
        return None
    return code


def phone_digits(words: list[str]) -> str | None:
    """The last four digits of the applicant's phone, from the words after a code: typed alone, or the whole
    number (0912 345 678, +84 912…), of which only the last four are kept. The SMS keywords read them here
    too (notifier.outbox.inbound)."""
    tail = " ".join(words).strip(" -.")
    if _DIGITS_ONLY.fullmatch(tail):
        return tail
    if sum(ch.isdigit() for ch in tail) < _PHONE_MIN_DIGITS:
        return None
    phone = phone_or_none(tail)
    return last_digits(phone, DIGITS) if phone is not None else None


def digits_match(phone: str | None, digits: str) -> bool:
    """True when `digits` are the last four of the applicant's phone; constant time for the comparison."""
    if not phone or len(digits) != DIGITS:
        return False
    try:
        expected = last_digits(phone, DIGITS)
    except InvalidPhone:
        return False
    return hmac.compare_digest(expected.encode(), digits.encode())


@dataclass(frozen=True)
class Throttle:
    limit: int
    window: timedelta
    slowdown: timedelta

    def recent(self, failures: Iterable[datetime], now: datetime) -> tuple[int, datetime | None]:
        """(failures within the window, the latest of them): what the store counts in SQL."""
        inside = [t for t in failures if t > now - self.window]
        return len(inside), max(inside, default=None)

    def retry_at(self, recent: int, latest: datetime | None, now: datetime) -> datetime | None:
        """When the chat may try again, or None if it may try now.

        `recent` failures fell within the window, the latest at `latest`. Below `limit` a chat guesses
        freely; from then on it gets one try per `slowdown` after its latest failure, so guessing the
        10,000 combinations of four digits takes weeks, not minutes.
        """
        if recent < self.limit or latest is None:
            return None
        allowed = latest + self.slowdown
        return allowed if now < allowed else None


CODE_KEY_LENGTH = 64  # bot_lookup_failures.code


def code_key(code: str) -> str:
    """The key a code's failed lookups are counted under, from every chat: codes are printed in capitals
    and looked up in either case, so `abc` and `ABC` are the same target."""
    return code.upper()[:CODE_KEY_LENGTH]


def slowed_until(
    chat: Throttle,
    chat_failures: tuple[int, datetime | None],
    code: Throttle,
    code_failures: tuple[int, datetime | None],
    now: datetime,
) -> datetime | None:
    """When a chat that is not linked to the dossier may try its digits again, or None if now.

    Two rules, whichever waits longer: the chat's own failures (one chat guessing many codes), and the
    failures on this code from every chat (many chats guessing one code's four digits, 223 guesses from
    45 chats once). Once a code is slowed it answers only its linked chats until its cool-down is over.
    """
    waits = [
        w for w in (chat.retry_at(*chat_failures, now), code.retry_at(*code_failures, now)) if w is not None
    ]
    return max(waits, default=None)


def link_needs_consent(linked_chats: Iterable[str], chat_id: str) -> bool:
    """A chat proving the digits of a dossier that other chats already receive does not take it over: the
    chats already linked are asked first (notifications go to one chat, the newest consent)."""
    return any(c != chat_id for c in linked_chats)


@dataclass(frozen=True)
class CitizenView:
    """What a citizen sees about one dossier; the lookup_result text renders it."""

    code: str
    procedure_name: str
    phone_masked: str | None
    status: int
    status_name: str
    received_at: datetime | None
    due_at: datetime | None
    returned_at: datetime | None
    working_days_left: int | None
    working_days_overdue: int | None
    payment_pending: bool
    fee_amount: int | None
    payment_link: str | None
    supplement_note: str | None
    apology_sent_at: datetime | None
    new_due_at: datetime | None


# What a citizen is shown as the view has it; describe() decides the rest.
_AS_VIEWED = ("code", "procedure_name", "phone_masked", "status", "status_name", "received_at", "returned_at")
# The appointment is given when the dossier is received (Mẫu 01) and means something until it ends: a dossier
# not received yet has none (whatever date the portal sends ahead), one refused, withdrawn or stopped will
# have no result to return.
NO_APPOINTMENT: tuple[int, ...] = (Status.NEW, Status.NOT_ACCEPTED, Status.WITHDRAWN, Status.STOPPED)


def describe(
    view: DossierView, apology_sent_at: datetime | None, new_appointment_sent_at: datetime | None
) -> CitizenView:
    """The citizen's part of `view`; the times are when the dossier's overdue_apology and new_appointment
    notices were sent (None: not sent)."""
    pending = view.payment_pending
    apology_at = apology_sent_at or new_appointment_sent_at
    return CitizenView(
        **{name: getattr(view, name) for name in _AS_VIEWED},
        due_at=None if view.status in NO_APPOINTMENT else view.due_at,
        # The deadline runs only while the agency holds the dossier; in 5 and 6 it waits for the citizen.
        working_days_left=view.days_left,
        working_days_overdue=view.days_overdue,
        payment_pending=pending,
        # The fee and the link matter only while payment is pending; the note only while it is asked for.
        fee_amount=view.fee_amount if pending else None,
        payment_link=view.payment_link if pending else None,
        supplement_note=view.supplement_note if view.status == Status.SUPPLEMENT_REQUESTED else None,
        apology_sent_at=apology_at,
        # The new date is news only once an apology announced it (or promised it and a follow-up gave it).
        new_due_at=view.apology_new_due_at if apology_at is not None else None,
    )
