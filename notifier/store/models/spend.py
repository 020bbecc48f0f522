"""What each agency spent this month on a channel with a budget, and what the messages being sent hold.

`spend_months` is the counter the dispatcher checks before a citizen message takes a capped channel (row
locked, so workers take turns), and the place the 80 % and 100 % warnings are marked, once: the first
worker to set `warned_at` (or `capped_at`) queues the warning, the others find it set.
`spend_holds` is the estimate of each message claimed but not yet recorded: counted while its
notification is `sending`, deleted when the batch is recorded, ignored once a reclaim put the row back.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from notifier.store.models.base import Base, BigId


class SpendMonth(Base):
    __tablename__ = "spend_months"
    __table_args__ = (UniqueConstraint("agency_id", "channel", "month", name="uq_spend_months_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"))
    channel: Mapped[str] = mapped_column(String(64))
    month: Mapped[str] = mapped_column(String(7))  # YYYY-MM, Vietnam time
    # Costs (notifications.cost_vnd) of the messages recorded as sent this month, agency and channel.
    spent_vnd: Mapped[int] = mapped_column(BigInteger, default=0)
    warned_at: Mapped[datetime | None]  # the warning at `[spend] warn_percent` was queued
    capped_at: Mapped[datetime | None]  # the warning at 100 % was queued
    updated_at: Mapped[datetime]


class SpendHold(Base):
    __tablename__ = "spend_holds"

    notification_id: Mapped[int] = mapped_column(
        ForeignKey("notifications.id", ondelete="CASCADE"), primary_key=True
    )
    spend_month_id: Mapped[int] = mapped_column(ForeignKey("spend_months.id"), index=True)
    amount_vnd: Mapped[int] = mapped_column(Integer)
