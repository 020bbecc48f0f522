"""Admin page sessions kept in the database (`admin_sessions`): the cookie carries a random id only.

Revoking is a row update, so a logout ends the session for every process at once, and a cookie copied
before the logout opens nothing afterwards. The row holds a digest of the password hash the session was
opened with: a password change (or a re-hash) ends every older session.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from notifier.store.models import AdminSession, User


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def fingerprint(user: User) -> str:
    return _digest(user.password_hash)


def open_session(session: Session, user: User, now: datetime, max_age: timedelta) -> str:
    """A new session for `user`: the id for the cookie (only its digest is stored)."""
    sid = secrets.token_urlsafe(32)
    session.add(
        AdminSession(
            id_hash=_digest(sid), user_id=user.id, fingerprint=fingerprint(user), created_at=now,
            expires_at=now + max_age, revoked_at=None,
        )
    )  # fmt: skip
    # Expired rows go when someone logs in: the table stays the size of the open sessions.
    session.execute(delete(AdminSession).where(AdminSession.expires_at < now - max_age))
    return sid


def session_user(session: Session, sid: str, now: datetime) -> User | None:
    """The active user of a live session, or None (unknown, revoked, expired, or the password changed)."""
    row = session.execute(
        select(AdminSession, User)
        .join(User, User.id == AdminSession.user_id)
        .where(AdminSession.id_hash == _digest(sid))
    ).first()
    if row is None:
        return None
    record, user = row
    if record.revoked_at is not None or record.expires_at <= now or not user.active:
        return None
    if not secrets.compare_digest(record.fingerprint, fingerprint(user)):
        return None
    return user


def revoke(session: Session, sid: str, now: datetime) -> None:
    session.execute(
        update(AdminSession)
        .where(AdminSession.id_hash == _digest(sid), AdminSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )
