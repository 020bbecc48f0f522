"""API keys: shown once at creation, stored as a hash, looked up by a short public prefix."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from notifier.store.models import ApiKey


def _digest(key: str) -> str:
    # Keys are 256 random bits, so a fast hash is enough: there is nothing to brute-force.
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(session: Session, name: str, now: datetime) -> str:
    if session.scalar(select(ApiKey).where(ApiKey.name == name)) is not None:
        raise ValueError(f"apikey: name '{name}': already exists")
    prefix = secrets.token_hex(4)
    key = f"nk_{prefix}_{secrets.token_urlsafe(32)}"
    session.add(ApiKey(name=name, prefix=prefix, key_hash=_digest(key), created_at=now))
    session.flush()
    return key


def verify_key(session: Session, presented: str) -> ApiKey | None:
    parts = presented.split("_")
    if len(parts) < 3 or parts[0] != "nk":
        return None
    candidates = session.scalars(
        select(ApiKey).where(ApiKey.prefix == parts[1], ApiKey.revoked_at.is_(None))
    ).all()
    digest = _digest(presented)
    for row in candidates:
        if hmac.compare_digest(row.key_hash, digest):
            return row
    return None
