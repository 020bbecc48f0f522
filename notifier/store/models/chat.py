"""The chatbot's tables: chats linked to phones or dossiers, failed lookups, citizens' feedback, each
chat's own choices (its language) and its form step (chat_states)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from notifier.store.models.base import Base, BigId
from notifier.store.models.core import Agency, Dossier


class ChatLink(Base):
    """A chat that receives a citizen's notifications: for every dossier of a phone, or for one dossier.

    A phone link comes from the citizen sharing their own Telegram contact (Telegram verified the number);
    a dossier link from a lookup that proved the last digits of the applicant's phone.
    """

    __tablename__ = "chat_links"
    __table_args__ = (
        UniqueConstraint("chat_id", "phone", name="uq_chat_links_chat_phone"),
        UniqueConstraint("chat_id", "dossier_id", name="uq_chat_links_chat_dossier"),
        Index("ix_chat_links_phone", "phone"),
        Index("ix_chat_links_dossier_id", "dossier_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    chat_id: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[str | None] = mapped_column(String(64))
    phone: Mapped[str | None] = mapped_column(String(32))  # E.164
    dossier_id: Mapped[int | None] = mapped_column(ForeignKey("dossiers.id"))
    source: Mapped[str] = mapped_column(String(16))  # contact, lookup
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    consent_at: Mapped[datetime]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    dossier: Mapped[Dossier | None] = relationship()


class LookupFailure(Base):
    """One failed "MAHOSO 1234" lookup; counted per chat within a window to slow enumeration down."""

    __tablename__ = "bot_lookup_failures"
    __table_args__ = (
        Index("ix_bot_lookup_failures_chat_at", "chat_id", "at"),
        # Failures on one code from every chat (guessing one dossier's digits from many chats).
        Index("ix_bot_lookup_failures_code_at", "code", "at"),
        # Each miss deletes the misses older than the window: a range on `at`, not a scan of the table.
        Index("ix_bot_lookup_failures_at", "at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    chat_id: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]
    code: Mapped[str | None] = mapped_column(String(64))  # what was tried, for spotting enumeration


class Feedback(Base):
    """A citizen's phản ánh, kiến nghị, routed to an agency, with the answer once an officer gives it."""

    __tablename__ = "feedback"
    __table_args__ = (
        Index("ix_feedback_status_deadline", "status", "deadline_at"),
        # The spam limits count a chat's and a dossier's recent feedback.
        Index("ix_feedback_chat_created", "chat_id", "created_at"),
        Index("ix_feedback_dossier_created", "dossier_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    chat_id: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[str | None] = mapped_column(String(64))
    dossier_id: Mapped[int | None] = mapped_column(ForeignKey("dossiers.id"), index=True)
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open, answered
    created_at: Mapped[datetime]
    deadline_at: Mapped[datetime]
    answer: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime | None]
    answered_by: Mapped[str | None] = mapped_column(String(128))

    dossier: Mapped[Dossier | None] = relationship()
    agency: Mapped[Agency | None] = relationship()


class ChatPreference(Base):
    """What a citizen chose for their conversation (`chat_id`: the conversation key, "5001" on Telegram,
    "zalo_oa:…" on Zalo): the language the chatbot answers in. No row: Vietnamese, or the platform's hint.
    Stored, not kept in a process, so every bot process and a restart answer in the same language."""

    __tablename__ = "chat_preferences"

    chat_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    language: Mapped[str] = mapped_column(String(8))  # notifier.rules.i18n.LANGUAGES
    updated_at: Mapped[datetime]


class ChatFormState(Base):
    """A conversation's form step and its data (the core's ChatState: the feedback form, an officer's
    pending new date), keyed by platform and conversation key. Stored so that the next message is
    understood by any process, and after a restart; `expires_at` ends a form left half-way (read as no
    step). A conversation with no step has no row."""

    __tablename__ = "chat_states"

    platform: Mapped[str] = mapped_column(String(16), primary_key=True)  # Platform: "zalo_oa", "sms"…
    chat_id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the conversation key (Sender.key)
    step: Mapped[str] = mapped_column(String(64))
    data: Mapped[str] = mapped_column(Text)  # JSON object
    expires_at: Mapped[datetime] = mapped_column(index=True)
    updated_at: Mapped[datetime]
