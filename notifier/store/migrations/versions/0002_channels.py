"""channels: provider state, inbound messages

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "provider_tokens",
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("access_token", sa.Text(), nullable=False),
        sa.Column("refresh_token", sa.Text(), nullable=True),
        sa.Column("expires_at", WHEN, nullable=True),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("channel"),
    )

    op.create_table(
        "channel_receipts",
        sa.Column("id", ID, nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("provider_id", sa.String(length=128), nullable=True),
        sa.Column("notification_id", ID, nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("received_at", WHEN, nullable=False),
        sa.Column("applied_at", WHEN, nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(["notification_id"], ["notifications.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("channel_receipts", schema=None) as batch_op:
        batch_op.create_index("ix_channel_receipts_notification_id", ["notification_id"], unique=False)
        batch_op.create_index(
            "ix_channel_receipts_pending",
            ["channel", "provider_id"],
            unique=False,
            postgresql_where=sa.text("applied_at IS NULL"),
        )

    op.create_table(
        "inbound_messages",
        sa.Column("id", ID, nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("provider_id", sa.String(length=128), nullable=True),
        sa.Column("sender", sa.String(length=32), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("command", sa.String(length=16), nullable=False),
        sa.Column("reply", sa.Text(), nullable=True),
        sa.Column("received_at", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("channel", "provider_id", name="uq_inbound_channel_provider_id"),
    )


def downgrade() -> None:
    op.drop_table("inbound_messages")
    with op.batch_alter_table("channel_receipts", schema=None) as batch_op:
        batch_op.drop_index("ix_channel_receipts_pending")
        batch_op.drop_index("ix_channel_receipts_notification_id")
    op.drop_table("channel_receipts")
    op.drop_table("provider_tokens")
