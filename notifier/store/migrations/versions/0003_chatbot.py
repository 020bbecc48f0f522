"""citizen chatbot: chat links, lookups, feedback

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "chat_links",
        sa.Column("id", ID, nullable=False),
        sa.Column("chat_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=True),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("dossier_id", ID, nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("consent_at", WHEN, nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(["dossier_id"], ["dossiers.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("chat_id", "phone", name="uq_chat_links_chat_phone"),
        sa.UniqueConstraint("chat_id", "dossier_id", name="uq_chat_links_chat_dossier"),
    )
    with op.batch_alter_table("chat_links", schema=None) as batch_op:
        batch_op.create_index("ix_chat_links_chat_id", ["chat_id"], unique=False)
        batch_op.create_index("ix_chat_links_phone", ["phone"], unique=False)
        batch_op.create_index("ix_chat_links_dossier_id", ["dossier_id"], unique=False)

    op.create_table(
        "bot_lookup_failures",
        sa.Column("id", ID, nullable=False),
        sa.Column("chat_id", sa.String(length=64), nullable=False),
        sa.Column("at", WHEN, nullable=False),
        sa.Column("code", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("bot_lookup_failures", schema=None) as batch_op:
        batch_op.create_index("ix_bot_lookup_failures_chat_at", ["chat_id", "at"], unique=False)

    op.create_table(
        "feedback",
        sa.Column("id", ID, nullable=False),
        sa.Column("chat_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=True),
        sa.Column("dossier_id", ID, nullable=True),
        sa.Column("agency_id", ID, nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("deadline_at", WHEN, nullable=False),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("answered_at", WHEN, nullable=True),
        sa.Column("answered_by", sa.String(length=128), nullable=True),
        sa.ForeignKeyConstraint(["dossier_id"], ["dossiers.id"]),
        sa.ForeignKeyConstraint(["agency_id"], ["agencies.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.create_index("ix_feedback_chat_id", ["chat_id"], unique=False)
        batch_op.create_index("ix_feedback_dossier_id", ["dossier_id"], unique=False)
        batch_op.create_index("ix_feedback_agency_id", ["agency_id"], unique=False)
        batch_op.create_index("ix_feedback_status_deadline", ["status", "deadline_at"], unique=False)


def downgrade() -> None:
    op.drop_table("feedback")
    op.drop_table("bot_lookup_failures")
    op.drop_table("chat_links")
