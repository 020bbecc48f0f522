"""The public dossier page's table (migration 0026): when a dossier's QR links were revoked."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from notifier.store.models.base import Base, BigId


class PublicLinkRevocation(Base):
    """A dossier whose public links (/tra-cuu/q/<token>) issued on or before `revoked_at`'s day no longer
    open it (a receipt lost or photographed by someone else). One row per dossier: the latest revocation."""

    __tablename__ = "public_link_revocations"

    dossier_id: Mapped[int] = mapped_column(BigId, ForeignKey("dossiers.id"), primary_key=True)
    revoked_at: Mapped[datetime]
    revoked_by: Mapped[str] = mapped_column(String(128))
