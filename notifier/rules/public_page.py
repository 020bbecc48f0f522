"""Rules of the public dossier page (/tra-cuu), as plain functions: when a QR link still opens its dossier,
the short-lived pass a look-up gives the browser, the form token against cross-site posts, and the
dossier's timeline. No I/O; the page's workflow reads the rows and passes the clock's time."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Final

from notifier.rules.statuses import Status

# A dossier is closed (its link starts counting down) once it ends one of these ways.
CLOSED: Final = (Status.NOT_ACCEPTED, Status.WITHDRAWN, Status.STOPPED, Status.RETURNED)


def closed_at(
    status: int, returned_at: datetime | None, status_changed_at: datetime | None
) -> datetime | None:
    """When the dossier was closed, or None while it is open (9 "done" waits for the citizen to collect)."""
    if status not in CLOSED:
        return None
    if status == Status.RETURNED and returned_at is not None:
        return returned_at
    return status_changed_at


def link_opens(
    issued: date,
    closed: datetime | None,
    revoked_at: datetime | None,
    now: datetime,
    days_after_close: int,
) -> bool:
    """Whether a genuine token issued on `issued` still opens its dossier.

    Refused when the dossier was closed more than `days_after_close` days ago, and when its links were
    revoked on or after the token's issue day (a receipt reprinted the next day carries a working link
    again; tokens carry a day, not a time, so a same-day reprint after a revocation must wait a day).
    """
    if closed is not None and now - closed > timedelta(days=days_after_close):
        return False
    return not (revoked_at is not None and issued <= revoked_at.date())


def _mac(key: bytes, purpose: bytes, body: str) -> str:
    digest = hmac.new(key, purpose + b"\x00" + body.encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:16]).decode("ascii").rstrip("=")


def sign_pass(key: bytes, code: str, expires: datetime) -> str:
    """The cookie that lets this browser see dossier `code` until `expires` (after a look-up or a QR
    link): the code, the expiry in Unix seconds and a tag. It holds no personal data."""
    body = f"{base64.urlsafe_b64encode(code.encode()).decode().rstrip('=')}.{int(expires.timestamp())}"
    return f"{body}.{_mac(key, b'public-pass', body)}"


def read_pass(key: bytes, value: str | None, now: datetime) -> str | None:
    """The dossier code a pass names, if it is genuine and not expired; None otherwise."""
    if not value or len(value) > 400:
        return None
    body, _, tag = value.rpartition(".")
    encoded, _, stamp = body.partition(".")
    if not tag or not stamp.isdigit() or not hmac.compare_digest(_mac(key, b"public-pass", body), tag):
        return None
    if int(stamp) <= now.timestamp():
        return None
    try:
        return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None


def form_token(key: bytes, nonce: str) -> str:
    """The CSRF token of a browser: a tag of its random nonce (kept in a cookie), sent back by every form.
    A page on another site can make the browser post, but cannot read the nonce to compute the token."""
    return _mac(key, b"public-csrf", nonce)


def form_token_ok(key: bytes, nonce: str | None, sent: str | None) -> bool:
    if not nonce or not sent:
        return False
    return hmac.compare_digest(form_token(key, nonce), sent)


class Step(StrEnum):
    """What a line of the timeline tells; the page words each one."""

    RECEIVED = "received"
    SUPPLEMENT = "supplement"
    SUPPLEMENT_DONE = "supplement_done"
    TRANSFER = "transfer"
    PAYMENT = "payment"
    PAID = "paid"
    APOLOGY = "apology"
    RESOLVED = "resolved"
    RETURNED = "returned"
    ENDED = "ended"


@dataclass(frozen=True)
class Event:
    """A status change as stored (dossier_events)."""

    to_status: int
    from_status: int | None
    at: datetime


@dataclass(frozen=True)
class Transfer:
    """An inter-agency step (dossier_steps)."""

    unit: str
    started_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True)
class Line:
    step: Step
    at: datetime | None
    detail: str | None = None  # a unit's name, a new appointment's date
    done: bool = True  # False: under way (a transfer not yet finished, a payment asked for)


def timeline(
    *,
    received_at: datetime | None,
    events: list[Event],
    transfers: list[Transfer],
    apologies: list[tuple[datetime, datetime | None]],
    returned_at: datetime | None,
) -> list[Line]:
    """The dossier's history, oldest first: received, supplement requests (and the papers brought),
    inter-agency steps, payment asked (and made), apology letters with their new date, result."""
    lines: list[Line] = []
    if received_at is not None:
        lines.append(Line(Step.RECEIVED, received_at))
    for e in events:
        if e.to_status == Status.SUPPLEMENT_REQUESTED:
            lines.append(Line(Step.SUPPLEMENT, e.at))
        elif e.from_status == Status.SUPPLEMENT_REQUESTED:
            lines.append(Line(Step.SUPPLEMENT_DONE, e.at))
        if e.to_status == Status.PAYMENT_REQUESTED:
            lines.append(Line(Step.PAYMENT, e.at))
        elif e.from_status == Status.PAYMENT_REQUESTED:
            lines.append(Line(Step.PAID, e.at))
        if e.to_status == Status.RESOLVED:
            lines.append(Line(Step.RESOLVED, e.at))
        elif e.to_status in (Status.NOT_ACCEPTED, Status.WITHDRAWN, Status.STOPPED):
            lines.append(Line(Step.ENDED, e.at, detail=str(e.to_status)))
    for t in transfers:
        lines.append(Line(Step.TRANSFER, t.started_at, detail=t.unit, done=t.finished_at is not None))
    for issued, new_due in apologies:
        lines.append(Line(Step.APOLOGY, issued, detail=None if new_due is None else new_due.isoformat()))
    if returned_at is not None:
        lines.append(Line(Step.RETURNED, returned_at))
    # A step the portal left without a time sorts by its neighbours' order (stable sort, at least first).
    return sorted(lines, key=lambda line: (line.at is None, line.at.timestamp() if line.at else 0.0))
