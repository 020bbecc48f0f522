"""an index on bot_lookup_failures.at: every missed look-up deletes the misses older than the window, which
was a scan of the whole table (3 ms at 50,000 misses, growing with it; benchmarks/public_lookup.py)

Revision ID: 0030
Revises: 0024
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0030"
down_revision = "0028"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("bot_lookup_failures", schema=None) as batch_op:
        batch_op.create_index("ix_bot_lookup_failures_at", ["at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("bot_lookup_failures", schema=None) as batch_op:
        batch_op.drop_index("ix_bot_lookup_failures_at")
