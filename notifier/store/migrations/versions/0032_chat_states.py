"""chat states: each conversation's form step in one table, with an expiry (it was on Zalo followers only)

Revision ID: 0032
Revises: 0029
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0032"
down_revision = "0029"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chat_states",
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("chat_id", sa.String(length=64), nullable=False),
        sa.Column("step", sa.String(length=64), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("platform", "chat_id"),
    )
    op.create_index("ix_chat_states_expires_at", "chat_states", ["expires_at"])
    # A Zalo form left half-way at the upgrade is started again: a form step is worth less than keeping
    # one place for every platform's state.
    with op.batch_alter_table("zalo_followers", schema=None) as batch_op:
        batch_op.drop_column("chat_data")
        batch_op.drop_column("chat_step")


def downgrade() -> None:
    with op.batch_alter_table("zalo_followers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("chat_step", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("chat_data", sa.Text(), nullable=True))
    op.drop_index("ix_chat_states_expires_at", table_name="chat_states")
    op.drop_table("chat_states")
