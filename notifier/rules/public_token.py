"""The token in a dossier's public link (``/tra-cuu/q/<token>``, the QR code on the receipt).

A token names one dossier and the day it was issued, and carries an HMAC-SHA256 tag (truncated to 80 bits,
enough against guessing online where look-ups are throttled, and short enough for a small QR code). It
holds no personal data. Whether a valid token still opens the dossier (closed too long ago, links revoked
after the day it was issued) is decided by the page from the dossier's record, not here.

Format: ``<code>~<issued, days since 2020-01-01, base 36>~<tag, base64url>``; the code may hold any
character but ``~`` and ``/``, and is percent-encoded by the caller when put in a URL.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final

EPOCH: Final = date(2020, 1, 1)
TAG_BYTES: Final = 10
SEPARATOR: Final = "~"


@dataclass(frozen=True, slots=True)
class PublicToken:
    code: str
    issued: date


def _tag(key: bytes, body: str) -> str:
    digest = hmac.new(key, b"notifier-public-link\x00" + body.encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:TAG_BYTES]).decode("ascii").rstrip("=")


def _base36(value: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        value, rest = divmod(value, 36)
        out = digits[rest] + out
        if value == 0:
            return out


def sign(key: bytes, code: str, issued: date) -> str:
    """The token for dossier ``code`` issued on ``issued``."""
    if not key:
        raise ValueError("public link key is empty")
    if not code or SEPARATOR in code or "/" in code:
        raise ValueError(f"dossier code {code!r} cannot be put in a public link")
    if issued < EPOCH:
        raise ValueError(f"issued {issued.isoformat()} is before {EPOCH.isoformat()}")
    body = f"{code}{SEPARATOR}{_base36((issued - EPOCH).days)}"
    return f"{body}{SEPARATOR}{_tag(key, body)}"


def verify(key: bytes, token: str) -> PublicToken | None:
    """The dossier and day a genuine token names; None for anything else (never raises on odd input)."""
    if not key or len(token) > 256:
        return None
    body, sep, tag = token.rpartition(SEPARATOR)
    code, sep2, days = body.rpartition(SEPARATOR)
    # compare_digest takes ASCII strings only: a tag with another letter (a URL's %C2%80) raised TypeError.
    if not sep or not sep2 or not code or not days or len(days) > 6 or not tag.isascii():
        return None
    if not hmac.compare_digest(_tag(key, body), tag):
        return None
    try:
        issued = EPOCH + timedelta(days=int(days, 36))
    except (ValueError, OverflowError):
        return None
    return PublicToken(code=code, issued=issued)
