"""The public dossier page's tables (migration 0026): when a dossier's QR links were revoked, and the
one-time codes that link a Zalo follower to one dossier."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from notifier.store.models.base import Base, BigId, OneTimeCode


class PublicLinkRevocation(Base):
    """A dossier whose public links (/tra-cuu/q/<token>) issued on or before `revoked_at`'s day no longer
    open it (a receipt lost or photographed by someone else). One row per dossier: the latest revocation."""

    __tablename__ = "public_link_revocations"

    dossier_id: Mapped[int] = mapped_column(BigId, ForeignKey("dossiers.id"), primary_key=True)
    revoked_at: Mapped[datetime]
    revoked_by: Mapped[str] = mapped_column(String(128))


class DossierLinkCode(OneTimeCode, Base):
    """A one-time code the page gives a citizen who proved a dossier (look-up or QR link): sent to the
    Zalo OA as "LK <code>", it makes that follower receive the dossier's notices. Only its hash is kept,
    as for officers' codes (OfficerLinkCode)."""

    __tablename__ = "dossier_link_codes"

    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossiers.id"), index=True)
