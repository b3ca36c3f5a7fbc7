"""The replies queued counted on an index (sent_at, failed_at): a rush's thousands waiting read no bodies."""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_outbox_unsent", "outbox", ["sent_at", "failed_at"])


def downgrade() -> None:
    op.drop_index("ix_outbox_unsent", table_name="outbox")
