"""zalo oa: webhook inbox, followers and their window, officer link codes, officers' Zalo id, message cost

Revision ID: 0022
Revises: 0012
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0012"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_AT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "zalo_inbox",
        sa.Column("id", _ID, nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("event_id", sa.String(length=160), nullable=False),
        sa.Column("event_name", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=True),
        sa.Column("occurred_at", _AT, nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("received_at", _AT, nullable=False),
        sa.Column("processed_at", _AT, nullable=True),
        sa.Column("claimed_until", _AT, nullable=True),
        sa.Column("tries", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("channel", "event_id", name="uq_zalo_inbox_channel_event"),
    )
    with op.batch_alter_table("zalo_inbox", schema=None) as batch_op:
        batch_op.create_index("ix_zalo_inbox_pending", ["processed_at", "id"], unique=False)
    op.create_table(
        "zalo_followers",
        sa.Column("id", _ID, nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("following", sa.Boolean(), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("phone_consent_at", _AT, nullable=True),
        sa.Column("last_interaction_at", _AT, nullable=True),
        sa.Column("chat_step", sa.String(length=64), nullable=True),
        sa.Column("chat_data", sa.Text(), nullable=True),
        sa.Column("created_at", _AT, nullable=False),
        sa.Column("updated_at", _AT, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("channel", "user_id", name="uq_zalo_followers_channel_user"),
    )
    with op.batch_alter_table("zalo_followers", schema=None) as batch_op:
        batch_op.create_index("ix_zalo_followers_phone", ["phone"], unique=False)
    op.create_table(
        "officer_link_codes",
        sa.Column("id", _ID, nullable=False),
        sa.Column("officer_id", _ID, nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", _AT, nullable=False),
        sa.Column("expires_at", _AT, nullable=False),
        sa.Column("used_at", _AT, nullable=True),
        sa.Column("used_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["officer_id"], ["officers.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code_hash"),
    )
    with op.batch_alter_table("officer_link_codes", schema=None) as batch_op:
        batch_op.create_index("ix_officer_link_codes_officer_id", ["officer_id"], unique=False)
    with op.batch_alter_table("officers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("zalo_user_id", sa.String(length=64), nullable=True))
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cost_vnd", sa.Integer(), nullable=True))
    with op.batch_alter_table("delivery_attempts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cost_vnd", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("delivery_attempts", schema=None) as batch_op:
        batch_op.drop_column("cost_vnd")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_column("cost_vnd")
    with op.batch_alter_table("officers", schema=None) as batch_op:
        batch_op.drop_column("zalo_user_id")
    with op.batch_alter_table("officer_link_codes", schema=None) as batch_op:
        batch_op.drop_index("ix_officer_link_codes_officer_id")
    op.drop_table("officer_link_codes")
    with op.batch_alter_table("zalo_followers", schema=None) as batch_op:
        batch_op.drop_index("ix_zalo_followers_phone")
    op.drop_table("zalo_followers")
    with op.batch_alter_table("zalo_inbox", schema=None) as batch_op:
        batch_op.drop_index("ix_zalo_inbox_pending")
    op.drop_table("zalo_inbox")
