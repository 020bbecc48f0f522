"""clerk templates: the syntax a template version is written in; test sends marked on the outbox row

Revision ID: 0027
Revises: 0024
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Every stored version so far is Jinja; that default only fills existing rows and is dropped (the model
    # sets the value). `is_test` keeps its default, for rows written by hand (benchmarks' bulk loads).
    with op.batch_alter_table("templates", schema=None) as batch_op:
        batch_op.add_column(sa.Column("syntax", sa.String(length=16), nullable=False, server_default="jinja"))
    with op.batch_alter_table("templates", schema=None) as batch_op:
        batch_op.alter_column("syntax", server_default=None)
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("is_test", sa.Boolean(), nullable=False, server_default=sa.false()))
    # Test sends queued before this revision are recognisable by their dedupe key (web.admin.editor).
    op.execute("UPDATE notifications SET is_test = true WHERE dedupe_key LIKE 'test:%'")


def downgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_column("is_test")
    with op.batch_alter_table("templates", schema=None) as batch_op:
        batch_op.drop_column("syntax")
