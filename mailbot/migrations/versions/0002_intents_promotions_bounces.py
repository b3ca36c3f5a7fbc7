"""Intents in the ledger, promotions and undeliverable replies on registrations, bounces in the outbox."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ledger") as batch:
        batch.add_column(sa.Column("intent", sa.String(length=16), nullable=True))
    with op.batch_alter_table("registrations") as batch:
        batch.add_column(sa.Column("promoted_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("undeliverable_at", sa.DateTime(), nullable=True))
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("bounced_at", sa.DateTime(), nullable=True))
        batch.add_column(
            sa.Column("recipient_normalized", sa.String(length=320), nullable=False, server_default="")
        )
        batch.create_index("ix_outbox_recipient_normalized", ["recipient_normalized"], unique=False)
    op.execute("UPDATE outbox SET recipient_normalized = lower(recipient)")


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_index("ix_outbox_recipient_normalized")
        batch.drop_column("recipient_normalized")
        batch.drop_column("bounced_at")
    with op.batch_alter_table("registrations") as batch:
        batch.drop_column("undeliverable_at")
        batch.drop_column("promoted_at")
    with op.batch_alter_table("ledger") as batch:
        batch.drop_column("intent")
