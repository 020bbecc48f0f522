"""Status changes owed to an API key's callback URL (the one-stop system), kept until it answered 2xx."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from notifier.store.models.base import Base, BigId


class CallbackEvent(Base):
    """One event, written in the transaction of the change it reports; its id is the event id the
    receiver de-duplicates by. The sender claims a due row by moving `next_at` past its POST's timeout,
    so a second sender passes over it; a failed POST moves it by the backoff."""

    __tablename__ = "callback_events"
    __table_args__ = (Index("ix_callback_events_due", "delivered", "next_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    api_key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"))
    notification_id: Mapped[int] = mapped_column(ForeignKey("notifications.id"), index=True)
    dossier_code: Mapped[str | None] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str | None] = mapped_column(String(64))
    occurred_at: Mapped[datetime]
    delivered: Mapped[bool] = mapped_column(default=False)
    delivered_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(Text)
