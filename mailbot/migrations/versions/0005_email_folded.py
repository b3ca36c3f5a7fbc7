"""Registrations remember their address without a +tag: one person per mailbox ([bot] fold_subaddress)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from mailbot.core.subaddress import fold

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("registrations") as batch:
        batch.add_column(sa.Column("email_folded", sa.String(length=320), nullable=True))
        batch.create_index("ix_registrations_event_folded", ["event_id", "email_folded"], unique=False)
    registrations = sa.table(
        "registrations", sa.column("id", sa.Integer), sa.column("email_normalized"), sa.column("email_folded")
    )
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(registrations.c.id, registrations.c.email_normalized).where(
            registrations.c.email_normalized.is_not(None)
        )
    ).all()
    for registration_id, address in rows:
        connection.execute(
            registrations.update()
            .where(registrations.c.id == registration_id)
            .values(email_folded=fold(str(address)))
        )


def downgrade() -> None:
    with op.batch_alter_table("registrations") as batch:
        batch.drop_index("ix_registrations_event_folded")
        batch.drop_column("email_folded")
