"""The Zalo Official Account's tables (migration 0022): the webhook inbox, the OA's followers with their
interaction window, and the one-time codes that link an officer's Zalo account."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from notifier.store.models.base import Base, BigId, OneTimeCode


class ZaloInboxEvent(Base):
    """One webhook event as Zalo sent it, stored before it is answered and processed later.

    Zalo retries an event it did not see acknowledged: (channel, event_id) is unique, so a retry is stored
    once. `processed_at` stays empty until the inbox worker has applied it (a crash leaves it to be redone).
    """

    __tablename__ = "zalo_inbox"
    __table_args__ = (
        UniqueConstraint("channel", "event_id", name="uq_zalo_inbox_channel_event"),
        Index("ix_zalo_inbox_pending", "processed_at", "id"),
        # The retention purge (outbox.retention) reads the applied events it has not emptied yet (0033).
        Index("ix_zalo_inbox_unpurged", "processed_at", postgresql_where=text("body <> '{}'")),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[str] = mapped_column(String(160))  # message.msg_id, else a hash of the signed body
    event_name: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str | None] = mapped_column(String(64))  # the follower: sender, or the OA's recipient
    occurred_at: Mapped[datetime | None]  # Zalo's timestamp (milliseconds in the body)
    body: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime]
    processed_at: Mapped[datetime | None]
    claimed_until: Mapped[datetime | None]  # a worker applies it until then (another may take it after)
    tries: Mapped[int] = mapped_column(Integer, default=0)
    outcome: Mapped[str | None] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(Text)


class ZaloFollower(Base):
    """A Zalo user who follows the OA: the phone they shared with consent, and their last message, which
    opens the window in which the OA may send them free-form (customer-service) messages."""

    __tablename__ = "zalo_followers"
    __table_args__ = (
        UniqueConstraint("channel", "user_id", name="uq_zalo_followers_channel_user"),
        Index("ix_zalo_followers_phone", "phone"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(64))
    following: Mapped[bool] = mapped_column(Boolean, default=True)
    phone: Mapped[str | None] = mapped_column(String(32))  # E.164, from user_submit_info only
    phone_consent_at: Mapped[datetime | None]
    last_interaction_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class OfficerLinkCode(OneTimeCode, Base):
    """A one-time code an officer sends to the OA to link their Zalo account; only its hash is kept."""

    __tablename__ = "officer_link_codes"

    officer_id: Mapped[int] = mapped_column(ForeignKey("officers.id"), index=True)
