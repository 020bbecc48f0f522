"""Issued apology documents and their per-agency, per-year numbering."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from notifier.store.models.base import Base, BigId


class ApologySlip(Base):
    """One issued "Phiếu xin lỗi và hẹn lại ngày trả kết quả": one per missed appointment of a dossier."""

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
