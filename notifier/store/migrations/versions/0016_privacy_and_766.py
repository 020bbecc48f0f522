"""personal data (requests, consent history) and the Decision 766 fields of a dossier

Revision ID: 0016
Revises: 0013
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0013"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_AT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "privacy_requests",
        sa.Column("id", _ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("dossier_code", sa.String(length=64), nullable=True),
        sa.Column("chat_id", sa.String(length=64), nullable=True),
        sa.Column("requested_by", sa.String(length=128), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", _AT, nullable=False),
        sa.Column("deadline_at", _AT, nullable=False),
        sa.Column("done_at", _AT, nullable=True),
        sa.Column("done_by", sa.String(length=128), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("privacy_requests", schema=None) as batch_op:
        batch_op.create_index("ix_privacy_requests_phone", ["phone"], unique=False)
        batch_op.create_index("ix_privacy_requests_status_deadline", ["status", "deadline_at"], unique=False)
    op.create_table(
        "consent_records",
        sa.Column("id", _ID, nullable=False),
        sa.Column("address", sa.String(length=255), nullable=False),
        sa.Column("medium", sa.String(length=32), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("given_at", _AT, nullable=False),
        sa.Column("withdrawn_at", _AT, nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("consent_records", schema=None) as batch_op:
        batch_op.create_index("ix_consent_records_address_medium", ["address", "medium"], unique=False)
    with op.batch_alter_table("dossiers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("online_payment", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("filing_channel", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("processing_ended_at", _AT, nullable=True))
        batch_op.add_column(sa.Column("supplement_count", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("dossiers", schema=None) as batch_op:
        batch_op.drop_column("supplement_count")
        batch_op.drop_column("processing_ended_at")
        batch_op.drop_column("filing_channel")
        batch_op.drop_column("online_payment")
    with op.batch_alter_table("consent_records", schema=None) as batch_op:
        batch_op.drop_index("ix_consent_records_address_medium")
    op.drop_table("consent_records")
    with op.batch_alter_table("privacy_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_privacy_requests_status_deadline")
        batch_op.drop_index("ix_privacy_requests_phone")
    op.drop_table("privacy_requests")
