"""indexes for the retention purge of what citizens send: inbound_messages by received_at and zalo_inbox by
processed_at, on PostgreSQL only over the rows the purge has not emptied yet (it runs every 6 hours over
tables that only grow)

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0033"
down_revision = "0032"
branch_labels = None
depends_on = None

INBOUND = sa.text("sender <> ''")
ZALO = sa.text("body <> '{}'")


def upgrade() -> None:
    with op.batch_alter_table("inbound_messages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_inbound_messages_unpurged", ["received_at"], unique=False, postgresql_where=INBOUND
        )
    with op.batch_alter_table("zalo_inbox", schema=None) as batch_op:
        batch_op.create_index("ix_zalo_inbox_unpurged", ["processed_at"], unique=False, postgresql_where=ZALO)


def downgrade() -> None:
    with op.batch_alter_table("zalo_inbox", schema=None) as batch_op:
        batch_op.drop_index("ix_zalo_inbox_unpurged", postgresql_where=ZALO)
    with op.batch_alter_table("inbound_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_inbound_messages_unpurged", postgresql_where=INBOUND)
