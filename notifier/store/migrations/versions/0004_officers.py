"""officers: apology slips, inter-agency steps

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "apology_counters",
        sa.Column("agency_id", ID, nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["agency_id"], ["agencies.id"]),
        sa.PrimaryKeyConstraint("agency_id", "year"),
    )
    op.create_table(
        "apology_slips",
        sa.Column("id", ID, nullable=False),
        sa.Column("agency_id", ID, nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("dossier_id", ID, nullable=False),
        sa.Column("dossier_code", sa.String(length=64), nullable=False),
        sa.Column("agency_name", sa.String(length=255), nullable=False),
        sa.Column("addressee", sa.String(length=255), nullable=False),
        sa.Column("applicant_kind", sa.Integer(), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("email", sa.String(length=255), nullable=True),
        sa.Column("procedure_code", sa.String(length=64), nullable=False),
        sa.Column("procedure_name", sa.Text(), nullable=False),
        sa.Column("received_at", TS, nullable=True),
        sa.Column("old_due_at", TS, nullable=False),
        sa.Column("new_due_at", TS, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("signer_name", sa.String(length=255), nullable=True),
        sa.Column("issued_at", TS, nullable=False),
        sa.Column("issued_by", sa.String(length=128), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("corrected_at", TS, nullable=True),
        sa.ForeignKeyConstraint(["agency_id"], ["agencies.id"]),
        sa.ForeignKeyConstraint(["dossier_id"], ["dossiers.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("agency_id", "year", "seq", name="uq_apology_slips_number"),
        sa.UniqueConstraint("dossier_id", "old_due_at", name="uq_apology_slips_miss"),
    )
    with op.batch_alter_table("apology_slips", schema=None) as batch_op:
        batch_op.create_index("ix_apology_slips_dossier_id", ["dossier_id"], unique=False)
        batch_op.create_index("ix_apology_slips_issued_at", ["issued_at"], unique=False)

    op.create_table(
        "dossier_steps",
        sa.Column("id", ID, nullable=False),
        sa.Column("dossier_id", ID, nullable=False),
        sa.Column("unit", sa.String(length=255), nullable=False),
        sa.Column("unit_agency_id", ID, nullable=True),
        sa.Column("officer_id", ID, nullable=True),
        sa.Column("handler_name", sa.String(length=255), nullable=True),
        sa.Column("handler_title", sa.String(length=255), nullable=True),
        sa.Column("content", sa.Text(), nullable=True),
        sa.Column("state", sa.Integer(), nullable=True),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("deadline", TS, nullable=True),
        sa.Column("finished_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["dossier_id"], ["dossiers.id"]),
        sa.ForeignKeyConstraint(["unit_agency_id"], ["agencies.id"]),
        sa.ForeignKeyConstraint(["officer_id"], ["officers.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dossier_id", "unit", "started_at", name="uq_dossier_steps_step"),
    )
    with op.batch_alter_table("dossier_steps", schema=None) as batch_op:
        batch_op.create_index("ix_dossier_steps_dossier_id", ["dossier_id"], unique=False)
        batch_op.create_index(
            "ix_dossier_steps_open",
            ["deadline"],
            unique=False,
            postgresql_where=sa.text("finished_at IS NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("dossier_steps", schema=None) as batch_op:
        batch_op.drop_index("ix_dossier_steps_open", postgresql_where=sa.text("finished_at IS NULL"))
        batch_op.drop_index("ix_dossier_steps_dossier_id")
    op.drop_table("dossier_steps")
    with op.batch_alter_table("apology_slips", schema=None) as batch_op:
        batch_op.drop_index("ix_apology_slips_issued_at")
        batch_op.drop_index("ix_apology_slips_dossier_id")
    op.drop_table("apology_slips")
    op.drop_table("apology_counters")
