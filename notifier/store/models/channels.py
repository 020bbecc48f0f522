"""Tables the provider channels keep: OAuth tokens, delivery receipts, inbound SMS (migration 0002)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from notifier.store.models.base import Base, BigId


class ProviderToken(Base):
    """A channel's current OAuth tokens (Zalo rotates its refresh token on every use, so it must persist)."""

    __tablename__ = "provider_tokens"

    channel: Mapped[str] = mapped_column(String(64), primary_key=True)
    access_token: Mapped[str] = mapped_column(Text)
    refresh_token: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class ChannelReceipt(Base):
    """Every delivery receipt a provider sent, applied to its notification when that row is recorded."""

    __tablename__ = "channel_receipts"
    __table_args__ = (
        # Receipts that arrived before the dispatcher recorded the provider id wait here.
        Index(
            "ix_channel_receipts_pending",
            "channel",
            "provider_id",
            postgresql_where=text("applied_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel: Mapped[str] = mapped_column(String(64))
    provider_id: Mapped[str | None] = mapped_column(String(128))
    notification_id: Mapped[int | None] = mapped_column(ForeignKey("notifications.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    # What the provider says the message actually cost, in đồng, when it says (0025): it replaces the
    # estimate in notifications.cost_vnd and in the agency's spend.
    cost_vnd: Mapped[int | None] = mapped_column(Integer)
    received_at: Mapped[datetime]
    applied_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(32))  # moved, stale, unknown


class InboundMessage(Base):
    """An SMS a citizen sent us (HUY, DK, TRACUU ...) and what we answered."""

    __tablename__ = "inbound_messages"
    __table_args__ = (
        UniqueConstraint("channel", "provider_id", name="uq_inbound_channel_provider_id"),
        # The retention purge (outbox.retention) reads the rows it has not emptied yet by date (0033).
        Index("ix_inbound_messages_unpurged", "received_at", postgresql_where=text("sender <> ''")),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel: Mapped[str] = mapped_column(String(64))
    provider_id: Mapped[str | None] = mapped_column(String(128))
    sender: Mapped[str] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(Text)
    command: Mapped[str] = mapped_column(String(16))
    reply: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime]
