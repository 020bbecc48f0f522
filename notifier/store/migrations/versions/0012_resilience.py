"""resilience: event and apology sources wide enough for any API key or file name

Revision ID: 0012
Revises: 0014
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0014"
branch_labels = None
depends_on = None

# "api:<key name>" and "import:<file name>" did not fit in 32 characters (issue 11): every row of such an
# import was refused on PostgreSQL. SQLite never enforced the length, so only the type changes there.
_WIDENED = (("dossier_events", "source"), ("apology_slips", "source"))


def _retype(old: int, new: int) -> None:
    for table, column in _WIDENED:
        with op.batch_alter_table(table) as batch_op:
            batch_op.alter_column(
                column, existing_type=sa.String(old), type_=sa.String(new), existing_nullable=False
            )


def upgrade() -> None:
    _retype(32, 255)


def downgrade() -> None:
    _retype(255, 32)
