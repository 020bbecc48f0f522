"""Lookup rules as plain functions: parse what a citizen typed, check the phone digits, throttle guessing,
and describe a dossier's state. No I/O here; the handlers fetch the rows and pass the clock's time."""

from __future__ import annotations

import hmac
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from notifier.rules.phones import InvalidPhone, last_digits, mask_phone
from notifier.rules.statuses import OPEN_FOR_DEADLINE, Status, status_name
from notifier.rules.workdays import WorkCalendar, working_days

DIGITS = 4

# A dossier code is letters, digits and . - _ / (e.g. 000.00.30.H26-261120-0001); the digits follow it.
_CODE = r"[0-9A-Za-z][0-9A-Za-z.\-_/]{2,63}"
_QUERY = re.compile(rf"^(?P<code>{_CODE})(?:[\s,;:]+(?P<digits>\d{{{DIGITS}}}))?$")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Query:
    code: str
    digits: str | None  # None: the chat asks about a dossier it is linked to, or forgot the digits


def parse_query(text: str) -> Query | None:
    """`MAHOSO 1234` (or `MAHOSO`) from what a citizen typed; None when it does not look like one.

    NFKC first: phone keyboards and copy-paste bring full-width digits and odd spaces.
    """
    cleaned = _SPACES.sub(" ", unicodedata.normalize("NFKC", text)).strip()
    match = _QUERY.match(cleaned)
    if match is None:
        return None
    code = match["code"]
    # A bare number is a phone number, and a word without digits ("hello") is chatter: codes have both.
    if code.isdigit() or not any(ch.isdigit() for ch in code):
        return None
    return Query(code, match["digits"])


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


@dataclass(frozen=True)
class DossierFacts:
    """What the lookup needs from the stored rows (so the description is a function of data only)."""

    code: str
    procedure_name: str
    phone: str | None
    status: int
    received_at: datetime | None
    due_at: datetime | None
    returned_at: datetime | None
    fee_amount: int | None
    fee_paid: bool
    payment_link: str | None
    supplement_note: str | None
    apology_new_due_at: datetime | None
    # sent_at of the dossier's sent overdue_apology / new_appointment notices
    apology_sent_at: datetime | None
    new_appointment_sent_at: datetime | None


@dataclass(frozen=True)
class DossierView:
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


def describe(facts: DossierFacts, calendar: WorkCalendar, now: datetime) -> DossierView:
    left = overdue = None
    # The deadline runs only while the agency holds the dossier; in 5 and 6 it waits for the citizen.
    if facts.status in OPEN_FOR_DEADLINE:
        left, overdue = working_days(calendar, facts.due_at, now)
    payment_pending = facts.status == Status.PAYMENT_REQUESTED and not facts.fee_paid
    apology_at = facts.apology_sent_at or facts.new_appointment_sent_at
    return DossierView(
        code=facts.code,
        procedure_name=facts.procedure_name,
        phone_masked=mask_phone(facts.phone) if facts.phone else None,
        status=facts.status,
        status_name=status_name(facts.status),
        received_at=facts.received_at,
        due_at=facts.due_at,
        returned_at=facts.returned_at,
        working_days_left=left,
        working_days_overdue=overdue,
        payment_pending=payment_pending,
        fee_amount=facts.fee_amount if payment_pending else None,
        payment_link=facts.payment_link if payment_pending else None,
        supplement_note=facts.supplement_note if facts.status == Status.SUPPLEMENT_REQUESTED else None,
        apology_sent_at=apology_at,
        # The new date is news only once an apology announced it (or promised it and a follow-up gave it).
        new_due_at=facts.apology_new_due_at if apology_at is not None else None,
    )
