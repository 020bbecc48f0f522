"""chat language: each conversation's chosen language (the chatbot in Vietnamese or English)

Revision ID: 0029
Revises: 0024
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0029"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # No row means Vietnamese (or the platform's hint): existing chats need nothing.
    op.create_table(
        "chat_preferences",
        sa.Column("chat_id", sa.String(length=64), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("chat_id"),
    )


def downgrade() -> None:
    op.drop_table("chat_preferences")
