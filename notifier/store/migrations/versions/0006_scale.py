"""scale-out: scan state for incremental scans, index on dossiers.updated_at

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scan_state",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("last_now", sa.DateTime(timezone=True), nullable=True),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    with op.batch_alter_table("dossiers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dossiers_updated_at"), ["updated_at"], unique=False)
        # Incremental scans ask "crossed since the last scan OR changed since it": each side needs its own
        # index for the planner to combine them instead of reading every dossier.
        batch_op.create_index(batch_op.f("ix_dossiers_due_at"), ["due_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_dossiers_status_changed_at"), ["status_changed_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("dossiers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dossiers_status_changed_at"))
        batch_op.drop_index(batch_op.f("ix_dossiers_due_at"))
        batch_op.drop_index(batch_op.f("ix_dossiers_updated_at"))
    op.drop_table("scan_state")
