"""operator controls: test keys, last use and callbacks of API keys; the key that imported a dossier;
callback events; priority lanes of the outbox

Revision ID: 0024
Revises: 0022
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        # Existing keys are live keys; the default only fills them and is dropped (the model sets it).
        batch_op.add_column(sa.Column("test", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("callback_url", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("callback_secret", sa.String(length=128), nullable=True))
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.alter_column("test", server_default=None)
    with op.batch_alter_table("dossiers", schema=None) as batch_op:
        big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
        batch_op.add_column(sa.Column("api_key_id", big_id, nullable=True))
        batch_op.create_index(batch_op.f("ix_dossiers_api_key_id"), ["api_key_id"], unique=False)
        batch_op.create_foreign_key("fk_dossiers_api_key_id_api_keys", "api_keys", ["api_key_id"], ["id"])
    # Priority lanes (notifier.rules.kinds.Lane): 0 a citizen's notice, 1 a staff alert, 2 a digest.
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("priority", sa.SmallInteger(), server_default=sa.text("1"), nullable=False)
        )
        batch_op.drop_index("ix_notifications_due")
        batch_op.create_index(
            "ix_notifications_due", ["status", "priority", "not_before"], unique=False
        )
    # Rows already queued get their lane from their kind (the registry at the time of this migration).
    op.execute(
        "UPDATE notifications SET priority = CASE"
        " WHEN kind IN ('officer_digest', 'head_digest') THEN 2"
        " WHEN audience = 'citizen' THEN 0 ELSE 1 END"
    )
    op.create_table(
        "callback_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("api_key_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("notification_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("dossier_code", sa.String(length=64), nullable=True),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered", sa.Boolean(), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["api_key_id"], ["api_keys.id"]),
        sa.ForeignKeyConstraint(["notification_id"], ["notifications.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_callback_events_due", "callback_events", ["delivered", "next_at"], unique=False)
    op.create_index(
        op.f("ix_callback_events_notification_id"), "callback_events", ["notification_id"], unique=False
    )


def downgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_due")
        batch_op.create_index("ix_notifications_due", ["status", "not_before"], unique=False)
        batch_op.drop_column("priority")
    op.drop_index(op.f("ix_callback_events_notification_id"), table_name="callback_events")
    op.drop_index("ix_callback_events_due", table_name="callback_events")
    op.drop_table("callback_events")
    with op.batch_alter_table("dossiers", schema=None) as batch_op:
        batch_op.drop_constraint("fk_dossiers_api_key_id_api_keys", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_dossiers_api_key_id"))
        batch_op.drop_column("api_key_id")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_column("callback_secret")
        batch_op.drop_column("callback_url")
        batch_op.drop_column("last_used_at")
        batch_op.drop_column("test")
