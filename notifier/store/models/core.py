"""The core tables: agencies, officers, procedures, dossiers and their events, the outbox, templates,
contacts, API keys, the audit log and the scan state."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from notifier.rules.agencies import AgencyLevel
from notifier.rules.clerk import Syntax
from notifier.rules.outbox_status import NotificationStatus
from notifier.store.models.base import Base, BigId


class Agency(Base):
    __tablename__ = "agencies"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    phone: Mapped[str | None] = mapped_column(String(32))
    address: Mapped[str | None] = mapped_column(String(255))
    # Decree 30/2020 headers and citizen texts: the level (rules.agencies.AgencyLevel), the body above the
    # issuer ("UBND THÀNH PHỐ HẢI PHÒNG"; "ỦY BAN NHÂN DÂN" over a ward), a short name for SMS, the place
    # name a document is dated at, and the one-stop desk ("Trung tâm Phục vụ hành chính công ...").
    level: Mapped[str] = mapped_column(
        String(16), default=str(AgencyLevel.PROVINCE), server_default="province"
    )
    parent_name: Mapped[str | None] = mapped_column(String(255))
    short_name: Mapped[str | None] = mapped_column(String(64))
    seat: Mapped[str | None] = mapped_column(String(128))
    desk_name: Mapped[str | None] = mapped_column(String(255))

    officers: Mapped[list[Officer]] = relationship(back_populates="agency")


class Officer(Base):
    __tablename__ = "officers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    phone: Mapped[str | None] = mapped_column(String(32))
    email: Mapped[str | None] = mapped_column(String(255))
    telegram_chat_id: Mapped[str | None] = mapped_column(String(64))
    zalo_user_id: Mapped[str | None] = mapped_column(String(64))  # linked with a one-time code (0022)
    is_head: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # The signer's real title for documents: GIÁM ĐỐC, PHÓ GIÁM ĐỐC, CHỦ TỊCH, PHÓ CHỦ TỊCH ...
    title: Mapped[str | None] = mapped_column(String(128))

    agency: Mapped[Agency] = relationship(back_populates="officers")


class Procedure(Base):
    __tablename__ = "procedures"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(Text)


class Dossier(Base):
    __tablename__ = "dossiers"
    __table_args__ = (Index("ix_dossiers_status_due", "status", "due_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    procedure_id: Mapped[int] = mapped_column(ForeignKey("procedures.id"), index=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    officer_id: Mapped[int | None] = mapped_column(ForeignKey("officers.id"), index=True)
    applicant_name: Mapped[str] = mapped_column(String(255))
    applicant_kind: Mapped[int] = mapped_column(Integer, default=1)  # LoaiDoiTuong: 1 citizen, 2 business
    phone: Mapped[str | None] = mapped_column(String(32), index=True)  # E.164
    email: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[int] = mapped_column(Integer)
    status_changed_at: Mapped[datetime] = mapped_column(index=True)
    received_at: Mapped[datetime | None]
    due_at: Mapped[datetime | None] = mapped_column(index=True)
    returned_at: Mapped[datetime | None]
    fee_amount: Mapped[int | None] = mapped_column(BigInteger)
    fee_paid: Mapped[bool] = mapped_column(Boolean, default=False)
    payment_link: Mapped[str | None] = mapped_column(Text)
    supplement_note: Mapped[str | None] = mapped_column(Text)
    delay_reason: Mapped[str | None] = mapped_column(Text)
    # The apology facts: the appointment that was missed, the new one, and when the new one became known
    # (an apology sent before that moment did not carry the new date, so a follow-up is owed).
    apology_old_due_at: Mapped[datetime | None]
    apology_new_due_at: Mapped[datetime | None]
    apology_set_at: Mapped[datetime | None]
    # How many Mẫu 04 extensions the dossier has had: the rules allow one; a second is recorded but flagged.
    apology_extensions: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    payload_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime] = mapped_column(index=True)  # incremental scans read what changed
    # What the Decision 766 calculation reads besides the above (DOMAIN.md "National portal"):
    # DuocThanhToanTrucTuyen (1 national payment platform, 2 own gateway), KenhThucHien (1 direct,
    # 2 online, 3 post), NgayKetThucXuLy, and how many supplement requests the agency made.
    online_payment: Mapped[int | None] = mapped_column(Integer)
    filing_channel: Mapped[int | None] = mapped_column(Integer)
    processing_ended_at: Mapped[datetime | None]
    supplement_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The API key that imported the dossier first: its test flag and callback follow the dossier.
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"), index=True)

    procedure: Mapped[Procedure] = relationship()
    agency: Mapped[Agency] = relationship()
    officer: Mapped[Officer | None] = relationship()
    api_key: Mapped[ApiKey | None] = relationship()


class DossierEvent(Base):
    """Every status change, with when it happened and where we learned it."""

    __tablename__ = "dossier_events"
    __table_args__ = (
        # The status scan reads only events it has not turned into notifications yet.
        Index("ix_dossier_events_pending", "pending", postgresql_where=text("pending")),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossiers.id"), index=True)
    from_status: Mapped[int | None] = mapped_column(Integer)
    to_status: Mapped[int] = mapped_column(Integer)
    occurred_at: Mapped[datetime]
    recorded_at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(255))
    detail: Mapped[str | None] = mapped_column(Text)
    pending: Mapped[bool] = mapped_column(Boolean, default=True)


class Contact(Base):
    """Consent and opt-out of one address on one medium (sms, telegram, zalo, email)."""

    __tablename__ = "contacts"
    __table_args__ = (UniqueConstraint("address", "medium", name="uq_contacts_address_medium"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    address: Mapped[str] = mapped_column(String(255))
    medium: Mapped[str] = mapped_column(String(32))
    consent_at: Mapped[datetime | None]
    opted_out_at: Mapped[datetime | None]
    reason: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime]


class Template(Base):
    """Every save is a new version; the newest active row for (kind, channel type, agency) is used."""

    __tablename__ = "templates"
    __table_args__ = (
        UniqueConstraint("kind", "channel_type", "agency_id", "version", name="uq_templates_version"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    channel_type: Mapped[str] = mapped_column(String(16))
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"))
    version: Mapped[int] = mapped_column(Integer)
    subject: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    # How subject and body are written (rules.clerk.Syntax): the clerks' language, or Jinja ("nâng cao"),
    # which only an admin may choose. Rows from before 0027 are Jinja.
    syntax: Mapped[str] = mapped_column(String(16), default=str(Syntax.JINJA))
    author: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime]


class Notification(Base):
    """The outbox. A row exists before any attempt to send it; its status only moves forward."""

    __tablename__ = "notifications"
    # The claim reads due rows lane by lane: status, then priority, then not_before (rules.kinds.Lane).
    __table_args__ = (Index("ix_notifications_due", "status", "priority", "not_before"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(255), unique=True)
    kind: Mapped[str] = mapped_column(String(64))
    audience: Mapped[str] = mapped_column(String(16))
    dossier_id: Mapped[int | None] = mapped_column(ForeignKey("dossiers.id"), index=True)
    officer_id: Mapped[int | None] = mapped_column(ForeignKey("officers.id"))
    # The moment the notice is about: the missed appointment of an apology, the status change, ...
    ref_at: Mapped[datetime | None]
    # What a kind needs beyond the dossier (a feedback answer, a digest's items, a step), as JSON text.
    payload: Mapped[str | None] = mapped_column(Text)
    # An admin's "Gửi thử cho tôi" from the template editor: counted in no export, report or dashboard.
    # The server default serves rows written by hand, like `priority`'s.
    is_test: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    status: Mapped[str] = mapped_column(String(16), default=str(NotificationStatus.QUEUED))
    # rules.kinds.Lane of the kind, set by the enqueue; the server default (ALERT) only serves rows written
    # by hand (benchmarks' bulk loads).
    priority: Mapped[int] = mapped_column(SmallInteger, server_default=text("1"))
    not_before: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    # Set (and committed) just before a send through a provider that cannot tell a repeat (Telegram, Zalo),
    # cleared when the attempt is recorded: a reclaimed row that still has it may have reached the citizen.
    handed_off_at: Mapped[datetime | None]
    handed_to: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[str | None] = mapped_column(String(64))
    recipient: Mapped[str | None] = mapped_column(String(255))
    subject: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str | None] = mapped_column(Text)
    segments: Mapped[int | None] = mapped_column(Integer)
    cost_vnd: Mapped[int | None] = mapped_column(Integer)  # what the channel that carried it charges (0022)
    provider_id: Mapped[str | None] = mapped_column(String(128), index=True)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]

    dossier: Mapped[Dossier | None] = relationship()
    officer: Mapped[Officer | None] = relationship()
    attempts_log: Mapped[list[DeliveryAttempt]] = relationship(
        back_populates="notification", order_by="DeliveryAttempt.id"
    )


class DeliveryAttempt(Base):
    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    notification_id: Mapped[int] = mapped_column(ForeignKey("notifications.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(64))
    recipient: Mapped[str | None] = mapped_column(String(255))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    outcome: Mapped[str] = mapped_column(String(16))  # sent, transient, permanent, skipped
    provider_id: Mapped[str | None] = mapped_column(String(128))
    error: Mapped[str | None] = mapped_column(Text)
    cost_vnd: Mapped[int | None] = mapped_column(Integer)  # set on the attempt that was sent (0022)

    notification: Mapped[Notification] = relationship(back_populates="attempts_log")


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    prefix: Mapped[str] = mapped_column(String(16), index=True)
    key_hash: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    # A test key's dossiers and messages go to `[api] test_channel` only and stay out of reports.
    test: Mapped[bool] = mapped_column(Boolean, default=False)
    last_used_at: Mapped[datetime | None]
    # Where status changes of this key's messages are POSTed, signed with the secret (HMAC-SHA256).
    callback_url: Mapped[str | None] = mapped_column(Text)
    callback_secret: Mapped[str | None] = mapped_column(String(128))


class AuditEntry(Base):
    """Who changed what and when: templates, opt-outs, apologies, settings (personal-data accountability)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(255))
    detail: Mapped[str | None] = mapped_column(Text)


class ScanState(Base):
    """Where the previous scan left off, so the next one reads only what is new."""

    __tablename__ = "scan_state"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_now: Mapped[datetime | None]
    runs: Mapped[int] = mapped_column(Integer, default=0)
