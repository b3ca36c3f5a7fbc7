"""The tables: SQLAlchemy 2 declarative rows of the ledger, registrations, outbox, audit log and state."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SCHEMA_REVISION = "0009"  # the newest migration in mailbot/migrations (a test holds them together)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes stored as UTC on every backend (SQLite has no time zones)."""

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:  # noqa: ARG002
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:  # noqa: ARG002
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    """Declarative base with a naming convention (stable constraint names for migrations)."""

    metadata = MetaData(naming_convention=NAMING)


class EventRow(Base):
    """An event as last configured; its row is also the lock that serialises seat allocation."""

    __tablename__ = "events"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    keyword: Mapped[str] = mapped_column(Text)
    capacity: Mapped[int] = mapped_column(Integer)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LedgerRow(Base):
    """One processed message of the mailbox, keyed by (folder, UIDVALIDITY, UID), with its verdict."""

    __tablename__ = "ledger"
    __table_args__ = (UniqueConstraint("folder", "uidvalidity", "uid", name="uq_ledger_message"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    folder: Mapped[str] = mapped_column(String(255))
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    uid: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[str | None] = mapped_column(Text, index=True)
    content_hash: Mapped[str | None] = mapped_column(String(64), index=True)  # see core/identity.py
    decoded_hash: Mapped[str | None] = mapped_column(String(64), index=True)  # survives re-encoding, too
    internaldate: Mapped[datetime] = mapped_column(UTCDateTime)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    outcome: Mapped[str] = mapped_column(String(32), index=True)
    intent: Mapped[str | None] = mapped_column(String(16))  # register | cancel | status
    reason: Mapped[str] = mapped_column(Text, default="")
    rule_hits: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of [rule, reason]
    sender: Mapped[str | None] = mapped_column(Text)
    subject: Mapped[str | None] = mapped_column(Text)
    processed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    flagged: Mapped[bool] = mapped_column(default=False)  # keyword set / moved after the commit


class RegistrationRow(Base):
    """A registration: one person's claim to a seat (or waitlist place) for one event."""

    __tablename__ = "registrations"
    __table_args__ = (
        UniqueConstraint("event_id", "position", name="uq_registrations_position"),
        # Invariant 4: one active registration per person and event, enforced by the database too.
        Index(
            "uq_registrations_active_person",
            "event_id",
            "email_normalized",
            unique=True,
            sqlite_where=text("status != 'cancelled' AND email_normalized IS NOT NULL"),
            postgresql_where=text("status != 'cancelled' AND email_normalized IS NOT NULL"),
        ),
        # With [bot] fold_subaddress, one person is the address without its +tag (core/subaddress.py).
        Index("ix_registrations_event_folded", "event_id", "email_folded"),
        # The console: an event's list by status and seat numbers by index alone; the dashboard's bounced.
        Index("ix_registrations_event_status_position", "event_id", "status", "position"),
        Index("ix_registrations_event_undeliverable", "event_id", "undeliverable_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("events.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(Text, default="")
    email: Mapped[str | None] = mapped_column(Text)
    email_normalized: Mapped[str | None] = mapped_column(String(320))
    email_folded: Mapped[str | None] = mapped_column(String(320))  # email_normalized without a +tag
    channel: Mapped[str] = mapped_column(String(16), default="email")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ledger_id: Mapped[int | None] = mapped_column(ForeignKey("ledger.id"))
    message_id: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    replied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    phone: Mapped[str | None] = mapped_column(Text)  # for registrations by phone
    access_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # a mail with the access data queued
    reminder_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the reminder queued
    promoted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # moved up from the waitlist
    undeliverable_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # a reply to it bounced


class OutboxRow(Base):
    """A reply committed with the decision it reports; sent later, marked sent once the server accepted it."""

    __tablename__ = "outbox"
    __table_args__ = (
        # The dashboard's replies pending/failed per event and a mailing's progress, without the bodies.
        Index("ix_outbox_event_failed_sent", "event_id", "failed_at", "sent_at"),
        Index("ix_outbox_event_kind", "event_id", "kind", "sent_at"),
        # The replies queued (`status`, the dashboard) counted on the index, not the rows with their bodies.
        Index("ix_outbox_unsent", "sent_at", "failed_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[str | None] = mapped_column(ForeignKey("events.id"))
    registration_id: Mapped[int | None] = mapped_column(ForeignKey("registrations.id"), index=True)
    ledger_id: Mapped[int | None] = mapped_column(ForeignKey("ledger.id"))
    kind: Mapped[str] = mapped_column(String(32))  # the X-Mailbot-Status value
    envelope_from: Mapped[str] = mapped_column(Text)
    recipient: Mapped[str] = mapped_column(Text)
    recipient_normalized: Mapped[str] = mapped_column(String(320), index=True, default="")
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    bounced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # a delivery failure report came back


class AuditRow(Base):
    """One change of a registration: who (mail, admin, phone, system), what, when, old -> new status."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    event_id: Mapped[str] = mapped_column(String(64), index=True)
    registration_id: Mapped[int | None] = mapped_column(ForeignKey("registrations.id"), index=True)
    actor: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(String(32))
    old_status: Mapped[str | None] = mapped_column(String(16))
    new_status: Mapped[str | None] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(Text, default="")


class StateRow(Base):
    """Small named values of the bot's own state (e.g. the last successful poll)."""

    __tablename__ = "bot_state"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class StaffUserRow(Base):
    """A staff account of the console (adapters/db/staff.py reads and writes it)."""

    __tablename__ = "staff_users"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str | None] = mapped_column(Text)  # argon2id; None: single sign-on only
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)  # a code is good once (no replay)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class StaffSessionRow(Base):
    """A console session; `key` is the SHA-256 of the cookie's token (a stolen table opens no session)."""

    __tablename__ = "staff_sessions"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    csrf: Mapped[str] = mapped_column(String(64))
    second_factor: Mapped[bool] = mapped_column(Boolean)
    client: Mapped[str] = mapped_column(String(64))


class RecoveryCodeRow(Base):
    """A staff account's single-use recovery code (SHA-256 of it)."""

    __tablename__ = "staff_recovery_codes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    used: Mapped[bool] = mapped_column(Boolean, default=False)


class SecurityLogRow(Base):
    """A login attempt or a refused action in the console (no passwords; unknown names masked)."""

    __tablename__ = "security_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    kind: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(80), index=True)
    client: Mapped[str] = mapped_column(String(64), index=True)
    detail: Mapped[str] = mapped_column(Text, default="")


def table_of(model: type[Base]) -> Table:
    """The Core table of a declarative row class (for statements without ORM work)."""
    return cast("Table", model.__table__)


LEDGER, OUTBOX, REGISTRATIONS, AUDIT = (
    table_of(m) for m in (LedgerRow, OutboxRow, RegistrationRow, AuditRow)
)
