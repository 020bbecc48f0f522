"""Personal data: data-subject requests and the history of consents (what, when, through which channel)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from notifier.rules.privacy import RequestStatus
from notifier.store.models.base import Base, BigId


class PrivacyRequest(Base):
    """A citizen's request to see, correct or erase their data or withdraw consent, with its deadline."""

    __tablename__ = "privacy_requests"
    __table_args__ = (Index("ix_privacy_requests_status_deadline", "status", "deadline_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # rules.privacy.RequestKind
    channel: Mapped[str] = mapped_column(String(16))  # rules.privacy.RequestChannel
    # The data subject: a phone (E.164; masked once erased) and/or one dossier code, and the chat asking.
    phone: Mapped[str | None] = mapped_column(String(32), index=True)
    dossier_code: Mapped[str | None] = mapped_column(String(64))
    chat_id: Mapped[str | None] = mapped_column(String(64))
    requested_by: Mapped[str] = mapped_column(String(128))  # telegram:<chat>, an officer code, a user
    detail: Mapped[str | None] = mapped_column(Text)  # the citizen's words, or the correction asked for
    status: Mapped[str] = mapped_column(String(16), default=str(RequestStatus.OPEN))
    created_at: Mapped[datetime]
    deadline_at: Mapped[datetime]
    done_at: Mapped[datetime | None]
    done_by: Mapped[str | None] = mapped_column(String(128))
    outcome: Mapped[str | None] = mapped_column(Text)  # what was done, or why it was refused


class ConsentRecord(Base):
    """One consent: to what (`purpose`), on which address and medium, when, through which channel; and when
    it was withdrawn. Kept as history: `contacts` holds only the current state per address."""

    __tablename__ = "consent_records"
    __table_args__ = (Index("ix_consent_records_address_medium", "address", "medium"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    address: Mapped[str] = mapped_column(String(255))
    medium: Mapped[str] = mapped_column(String(32))
    purpose: Mapped[str] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(String(32))
    given_at: Mapped[datetime]
    withdrawn_at: Mapped[datetime | None]
