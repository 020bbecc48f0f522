"""Issued Mẫu 04 documents (apology and proposed extension) and their per-agency, per-year numbering."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from notifier.store.models.base import Base, BigId


class ApologySlip(Base):
    """One issued Mẫu 04 "Văn bản xin lỗi và đề nghị gia hạn thời gian giải quyết": one per missed (or about
    to be missed) appointment of a dossier."""

    __tablename__ = "apology_slips"
    __table_args__ = (
        UniqueConstraint("agency_id", "year", "seq", name="uq_apology_slips_number"),
        UniqueConstraint("dossier_id", "old_due_at", name="uq_apology_slips_miss"),
        Index("ix_apology_slips_issued_at", "issued_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"))
    year: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)
    number: Mapped[str] = mapped_column(String(64))
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossiers.id"), index=True)
    dossier_code: Mapped[str] = mapped_column(String(64))
    agency_name: Mapped[str] = mapped_column(String(255))
    addressee: Mapped[str] = mapped_column(String(255))
    applicant_kind: Mapped[int] = mapped_column(Integer, default=1)
    phone: Mapped[str | None] = mapped_column(String(32))
    email: Mapped[str | None] = mapped_column(String(255))
    procedure_code: Mapped[str] = mapped_column(String(64))
    procedure_name: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime | None]
    old_due_at: Mapped[datetime]
    new_due_at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(Text)
    signer_name: Mapped[str | None] = mapped_column(String(255))
    # Decree 30/2020 header and signature, as they were when the document was issued.
    issuer_level: Mapped[str] = mapped_column(String(16), default="province", server_default="province")
    issuer_parent_name: Mapped[str | None] = mapped_column(String(255))
    issuer_seat: Mapped[str | None] = mapped_column(String(128))
    desk_name: Mapped[str | None] = mapped_column(String(255))
    signer_title: Mapped[str | None] = mapped_column(String(128))
    # 1 for the dossier's first extension; more than 1 is a further extension the rules do not allow.
    extension_no: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    issued_at: Mapped[datetime]
    issued_by: Mapped[str] = mapped_column(String(128))
    source: Mapped[str] = mapped_column(String(255))
    corrected_at: Mapped[datetime | None]


class ApologyCounter(Base):
    """The last slip number used per agency and year; bumped atomically with an upsert."""

    __tablename__ = "apology_counters"

    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last: Mapped[int] = mapped_column(Integer)
