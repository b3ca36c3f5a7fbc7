"""The staff console (issue 15): staff accounts, their sessions and recovery codes, the security log."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff_users",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=True),
        sa.Column("totp_secret", sa.String(length=64), nullable=True),
        sa.Column("totp_last_step", sa.BigInteger(), nullable=True),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_staff_users")),
    )
    op.create_table(
        "staff_sessions",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("seen_at", sa.DateTime(), nullable=False),
        sa.Column("csrf", sa.String(length=64), nullable=False),
        sa.Column("second_factor", sa.Boolean(), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_staff_sessions")),
    )
    op.create_index(op.f("ix_staff_sessions_name"), "staff_sessions", ["name"], unique=False)
    op.create_table(
        "staff_recovery_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("used", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_recovery_codes")),
    )
    op.create_index(op.f("ix_staff_recovery_codes_name"), "staff_recovery_codes", ["name"], unique=False)
    op.create_table(
        "security_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_security_log")),
    )
    op.create_index(op.f("ix_security_log_at"), "security_log", ["at"], unique=False)
    op.create_index(op.f("ix_security_log_name"), "security_log", ["name"], unique=False)
    op.create_index(op.f("ix_security_log_client"), "security_log", ["client"], unique=False)


def downgrade() -> None:
    op.drop_table("security_log")
    op.drop_table("staff_recovery_codes")
    op.drop_table("staff_sessions")
    op.drop_table("staff_users")
