"""Indexes for the staff console: an event's list by status, the dashboard's counts, a mailing's progress."""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_registrations_event_status_position", "registrations", ["event_id", "status", "position"]
    )
    op.create_index("ix_registrations_event_undeliverable", "registrations", ["event_id", "undeliverable_at"])
    op.create_index("ix_outbox_event_failed_sent", "outbox", ["event_id", "failed_at", "sent_at"])
    op.create_index("ix_outbox_event_kind", "outbox", ["event_id", "kind", "sent_at"])


def downgrade() -> None:
    op.drop_index("ix_outbox_event_kind", table_name="outbox")
    op.drop_index("ix_outbox_event_failed_sent", table_name="outbox")
    op.drop_index("ix_registrations_event_undeliverable", table_name="registrations")
    op.drop_index("ix_registrations_event_status_position", table_name="registrations")
