"""Accounts of the admin web page."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from notifier.store.models.base import Base, BigId
from notifier.store.models.core import Agency


class User(Base):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint("role IN ('admin', 'agency')", name="ck_users_role"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"), index=True)
    phone: Mapped[str | None] = mapped_column(String(32))  # E.164, for "send a test"
    telegram_chat_id: Mapped[str | None] = mapped_column(String(64))
    email: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    last_login_at: Mapped[datetime | None]
    # The optional second factor (RFC 6238 TOTP, notifier.workflows.accounts): the base32 secret, pending
    # until a code confirms it (totp_enabled_at), and the last time step a code was accepted for (no replay).
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_enabled_at: Mapped[datetime | None]
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)

    agency: Mapped[Agency | None] = relationship()


class AdminSession(Base):
    """A login on the admin page. The browser's cookie holds only a random session id; this row, found by
    the id's SHA-256, says whose it is and whether it still holds: logging out revokes it here, so a copied
    cookie is worth nothing afterwards, and a password change ends it (`fingerprint`)."""

    __tablename__ = "admin_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex of the cookie's id
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    fingerprint: Mapped[str] = mapped_column(String(64))  # a digest of the password hash it was opened with
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    revoked_at: Mapped[datetime | None]
