"""Limits shared by every process on the database: providers' token buckets and failed admin logins."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Double, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from notifier.store.models.base import Base, BigId


class RateBucket(Base):
    """One token bucket (notifier.rules.ratelimit): a channel's, or one recipient's on that channel.

    Times are `time.time()` seconds, not the domain clock: the provider counts physical seconds. A row whose
    bucket is full again (`idle_at` passed) carries no state and is deleted; it comes back full.
    """

    __tablename__ = "rate_buckets"

    channel: Mapped[str] = mapped_column(String(64), primary_key=True)
    # '' is the channel-wide bucket; a real address is never empty.
    recipient: Mapped[str] = mapped_column(String(255), primary_key=True)
    tokens: Mapped[float] = mapped_column(Double)
    at: Mapped[float] = mapped_column(Double)
    idle_at: Mapped[float] = mapped_column(Double)


class LoginFailure(Base):
    """One wrong password on the admin page (or a try still being checked), by name and client address.

    The name's lock counts the rows of that name not `cleared` by a later successful login; the rows stay
    until they are old, so rules by address or over all names can be counted from the same table.
    """

    __tablename__ = "login_failures"
    __table_args__ = (
        Index("ix_login_failures_username_at", "username", "at"),
        Index("ix_login_failures_address_at", "address", "at"),
        Index("ix_login_failures_at", "at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(String(128))  # as typed (lower-cased), cut to the column
    address: Mapped[str | None] = mapped_column(String(64))  # the client's IP address as the server saw it
    at: Mapped[datetime]
    cleared: Mapped[bool] = mapped_column(Boolean, default=False)
