"""agency level, parent body, short name, seat and desk; officer title (Decree 30/2020 document headers,
two-level local government); Mẫu 04 documents keep their header and signer, and count extensions

Revision ID: 0014
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agencies", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("level", sa.String(length=16), server_default="province", nullable=False)
        )
        batch_op.add_column(sa.Column("parent_name", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("short_name", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("seat", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("desk_name", sa.String(length=255), nullable=True))
    with op.batch_alter_table("officers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("title", sa.String(length=128), nullable=True))
    with op.batch_alter_table("dossiers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("apology_extensions", sa.Integer(), server_default="0", nullable=False))
    with op.batch_alter_table("apology_slips", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("issuer_level", sa.String(length=16), server_default="province", nullable=False)
        )
        batch_op.add_column(sa.Column("issuer_parent_name", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("issuer_seat", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("desk_name", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("signer_title", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("extension_no", sa.Integer(), server_default="1", nullable=False))
    # Dossiers that already had slips: their count of extensions (a second one is flagged from now on).
    op.execute(
        "UPDATE dossiers SET apology_extensions = "
        "(SELECT COUNT(*) FROM apology_slips WHERE apology_slips.dossier_id = dossiers.id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("apology_slips", schema=None) as batch_op:
        for column in ("extension_no", "signer_title", "desk_name", "issuer_seat", "issuer_parent_name"):
            batch_op.drop_column(column)
        batch_op.drop_column("issuer_level")
    with op.batch_alter_table("dossiers", schema=None) as batch_op:
        batch_op.drop_column("apology_extensions")
    with op.batch_alter_table("officers", schema=None) as batch_op:
        batch_op.drop_column("title")
    with op.batch_alter_table("agencies", schema=None) as batch_op:
        batch_op.drop_column("desk_name")
        batch_op.drop_column("seat")
        batch_op.drop_column("short_name")
        batch_op.drop_column("parent_name")
        batch_op.drop_column("level")
