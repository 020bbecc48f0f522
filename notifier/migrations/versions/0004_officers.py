"""officers: apology slips, inter-agency steps

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Reserved for this tables; filled in by the work on it.
    pass


def downgrade() -> None:
    pass
