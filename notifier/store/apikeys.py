"""API keys: shown once at creation, stored as a hash, looked up by a short public prefix."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.orm import Session

from notifier.store.models import ApiKey, Dossier


def _digest(key: str) -> str:
    # Keys are 256 random bits, so a fast hash is enough: there is nothing to brute-force.
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(session: Session, name: str, now: datetime) -> str:
    """A new live key without callback (the key's text only)."""
    return issue_key(session, name, now)[0]


def issue_key(
    session: Session,
    name: str,
    now: datetime,
    *,
    test: bool = False,
    callback_url: str | None = None,
) -> tuple[str, ApiKey]:
    """A new key and its row; with a callback URL the row also gets a signing secret (the receiver needs
    it, so it is readable, unlike the key)."""
    if key_named(session, name) is not None:
        raise ValueError(f"apikey: name '{name}': already exists")
    prefix = secrets.token_hex(4)
    # A test key says so in its text, so a key pasted into the wrong system is recognised at a glance.
    key = f"nk{'t' if test else ''}_{prefix}_{secrets.token_urlsafe(32)}"
    row = ApiKey(
        name=name,
        prefix=prefix,
        key_hash=_digest(key),
        created_at=now,
        test=test,
        callback_url=callback_url,
        callback_secret=secrets.token_urlsafe(32) if callback_url else None,
    )
    session.add(row)
    session.flush()
    return key, row


def verify_key(session: Session, presented: str) -> ApiKey | None:
    parts = presented.split("_")
    if len(parts) < 3 or parts[0] not in ("nk", "nkt"):
        return None
    candidates = session.scalars(
        select(ApiKey).where(ApiKey.prefix == parts[1], ApiKey.revoked_at.is_(None))
    ).all()
    digest = _digest(presented)
    for row in candidates:
        if hmac.compare_digest(row.key_hash, digest):
            return row
    return None


def all_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.name)))


def key_named(session: Session, name: str) -> ApiKey | None:
    return session.scalar(select(ApiKey).where(ApiKey.name == name))


def mark_used(session: Session, key_id: int, now: datetime, not_since: datetime) -> None:
    """Record a use; skipped when one after `not_since` is recorded, so a busy key costs no write a call."""
    session.execute(
        update(ApiKey)
        .where(
            ApiKey.id == key_id,
            (ApiKey.last_used_at.is_(None)) | (ApiKey.last_used_at < not_since),
        )
        .values(last_used_at=now)
    )


def live_dossier() -> ColumnElement[bool]:
    """True for a dossier no test key imported, and for no dossier at all (an outer join's NULL): reports
    and the dashboard count only these."""
    return or_(
        Dossier.api_key_id.is_(None),
        Dossier.api_key_id.not_in(select(ApiKey.id).where(ApiKey.test.is_(True)).scalar_subquery()),
    )
