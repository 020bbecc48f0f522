"""spend caps: each agency's spend per channel and month, the estimates of messages being sent, and
the cost a provider's receipt reports

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0027"
branch_labels = None
depends_on = None


def upgrade() -> None:
    big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "spend_months",
        sa.Column("id", big_id, nullable=False),
        sa.Column("agency_id", big_id, nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("spent_vnd", sa.BigInteger(), nullable=False),
        sa.Column("warned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("capped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["agency_id"], ["agencies.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("agency_id", "channel", "month", name="uq_spend_months_key"),
    )
    op.create_table(
        "spend_holds",
        sa.Column("notification_id", big_id, nullable=False),
        sa.Column("spend_month_id", big_id, nullable=False),
        sa.Column("amount_vnd", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["notification_id"], ["notifications.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["spend_month_id"], ["spend_months.id"]),
        sa.PrimaryKeyConstraint("notification_id"),
    )
    op.create_index(op.f("ix_spend_holds_spend_month_id"), "spend_holds", ["spend_month_id"], unique=False)
    # A provider's own figure for what a message cost, when its receipt carries one.
    with op.batch_alter_table("channel_receipts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cost_vnd", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("channel_receipts", schema=None) as batch_op:
        batch_op.drop_column("cost_vnd")
    op.drop_index(op.f("ix_spend_holds_spend_month_id"), table_name="spend_holds")
    op.drop_table("spend_holds")
    op.drop_table("spend_months")
