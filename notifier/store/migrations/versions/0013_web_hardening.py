"""web hardening: failed lookups counted per dossier code, feedback counted per chat and per dossier

Revision ID: 0013
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("bot_lookup_failures", schema=None) as batch_op:
        batch_op.create_index("ix_bot_lookup_failures_code_at", ["code", "at"], unique=False)
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.create_index("ix_feedback_chat_created", ["chat_id", "created_at"], unique=False)
        batch_op.create_index("ix_feedback_dossier_created", ["dossier_id", "created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.drop_index("ix_feedback_dossier_created")
        batch_op.drop_index("ix_feedback_chat_created")
    with op.batch_alter_table("bot_lookup_failures", schema=None) as batch_op:
        batch_op.drop_index("ix_bot_lookup_failures_code_at")
