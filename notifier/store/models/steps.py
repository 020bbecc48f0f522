"""Inter-agency (liên thông) steps of a dossier, from the portal's progress items."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from notifier.store.models.base import Base, BigId


class DossierStep(Base):
    __tablename__ = "dossier_steps"
    __table_args__ = (
        UniqueConstraint("dossier_id", "unit", "started_at", name="uq_dossier_steps_step"),
        # The scan reads open steps by deadline; finished ones (most of the table) stay out of the index.
        Index("ix_dossier_steps_open", "deadline", postgresql_where=text("finished_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossiers.id"), index=True)
    unit: Mapped[str] = mapped_column(String(255))  # PhongBanXuLy as sent
    unit_agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"))
    officer_id: Mapped[int | None] = mapped_column(ForeignKey("officers.id"))
    handler_name: Mapped[str | None] = mapped_column(String(255))  # NguoiXuLy
    handler_title: Mapped[str | None] = mapped_column(String(255))  # ChucDanh
    content: Mapped[str | None] = mapped_column(Text)  # NoiDungXuLy
    state: Mapped[int | None] = mapped_column(Integer)  # TrangThai, stored as sent
    started_at: Mapped[datetime]
    deadline: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
