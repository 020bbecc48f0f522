"""web hardening: failed lookups counted per dossier code, feedback counted per chat and per dossier,
admin sessions kept server-side (revoked at logout)

Revision ID: 0013
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "admin_sessions",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id_hash"),
    )
    with op.batch_alter_table("admin_sessions", schema=None) as batch_op:
        batch_op.create_index("ix_admin_sessions_user_id", ["user_id"], unique=False)
        batch_op.create_index("ix_admin_sessions_expires_at", ["expires_at"], unique=False)
    with op.batch_alter_table("bot_lookup_failures", schema=None) as batch_op:
        batch_op.create_index("ix_bot_lookup_failures_code_at", ["code", "at"], unique=False)
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.create_index("ix_feedback_chat_created", ["chat_id", "created_at"], unique=False)
        batch_op.create_index("ix_feedback_dossier_created", ["dossier_id", "created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("admin_sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_admin_sessions_expires_at")
        batch_op.drop_index("ix_admin_sessions_user_id")
    op.drop_table("admin_sessions")
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.drop_index("ix_feedback_dossier_created")
        batch_op.drop_index("ix_feedback_chat_created")
    with op.batch_alter_table("bot_lookup_failures", schema=None) as batch_op:
        batch_op.drop_index("ix_bot_lookup_failures_code_at")
