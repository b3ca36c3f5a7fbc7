"""Decoded hash in the ledger: a mail is recognised after a restore that re-encoded its body (issue 12 §5)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ledger") as batch:
        batch.add_column(sa.Column("decoded_hash", sa.String(length=64), nullable=True))
        batch.create_index("ix_ledger_decoded_hash", ["decoded_hash"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("ledger") as batch:
        batch.drop_index("ix_ledger_decoded_hash")
        batch.drop_column("decoded_hash")
