"""SQLAlchemy 2 models and the unit of work: ledger, registrations, outbox, in one database."""

from __future__ import annotations

import fcntl
import itertools
import json
import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, NamedTuple, cast

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
    bindparam,
    case,
    create_engine,
    delete,
    event,
    func,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import (
    DeclarativeBase,
    InstrumentedAttribute,
    Mapped,
    ORMExecuteState,
    Session,
    SessionTransaction,
    mapped_column,
    sessionmaker,
)
from sqlalchemy.sql.elements import ColumnElement

from mailbot.adapters.journal import SentJournal
from mailbot.adapters.private import keep_private, open_private
from mailbot.core import booking, subaddress
from mailbot.core.model import Event, EventCounts, Existing, ExportRow, Status

log = logging.getLogger(__name__)
SCHEMA_REVISION = "0007"  # the newest migration in mailbot/migrations (a test holds them together)
_PG_LEADER_LOCK = 0x6D626C64  # "mbld": the advisory lock of the process running passes

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


class ClaimedReply(NamedTuple):
    """A reply claimed for sending (Tx.claim_due_outbox): what the SMTP transaction and its record need."""

    id: int
    envelope_from: str
    recipient: str
    data: bytes
    attempts: int


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
    """A staff account of the console (adapters/staff_db.py reads and writes it)."""

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


@dataclass(frozen=True)
class EventSummary:
    """The numbers `mailbot status` shows for one event."""

    event_id: str
    capacity: int
    confirmed: int
    waitlisted: int
    cancelled: int
    replies_pending: int
    replies_failed: int
    undeliverable: int = 0


def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:  # noqa: ARG001
    """WAL for concurrent readers, a busy timeout instead of instant 'database is locked'."""
    dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (see _sqlite_begin)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    """BEGIN IMMEDIATE: a writer takes the lock up front, so read-then-write can't deadlock or go stale."""
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _table(model: type[Base]) -> Table:
    return cast("Table", model.__table__)


# Statements of the hot path, built once (their compiled form is cached): one UPDATE per call, no ORM work.
_LEDGER, _OUTBOX, _REGISTRATIONS = _table(LedgerRow), _table(OutboxRow), _table(RegistrationRow)
_AUDIT = _table(AuditRow)
_SET_OUTCOME = (
    update(_LEDGER)
    .where(_LEDGER.c.id == bindparam("b_id"))
    .values(outcome=bindparam("b_outcome"), reason=bindparam("b_reason"))
)
_MARK_SENT = (
    update(_OUTBOX)
    .where(_OUTBOX.c.id == bindparam("b_id"), _OUTBOX.c.sent_at.is_(None))
    .values(sent_at=bindparam("b_now", type_=UTCDateTime()), attempts=_OUTBOX.c.attempts + 1)
)
_MARK_REPLIED = (
    update(_REGISTRATIONS)
    .where(
        _REGISTRATIONS.c.id
        == select(_OUTBOX.c.registration_id).where(_OUTBOX.c.id == bindparam("b_id")).scalar_subquery(),
        _REGISTRATIONS.c.replied_at.is_(None),
    )
    .values(replied_at=bindparam("b_now", type_=UTCDateTime()))
)


# PostgreSQL, one accepted reply: both updates in one statement, sent on its own (autocommit), so recording a
# reply is one round trip instead of four (BEGIN, two UPDATEs, COMMIT). The main UPDATE reads the outbox row
# from the statement's snapshot, as the second of two statements would: registration_id doesn't change.
_MARK_SENT_PG = text(
    "WITH sent AS (UPDATE outbox SET sent_at = :b_now, attempts = attempts + 1"
    " WHERE id = :b_id AND sent_at IS NULL)"
    " UPDATE registrations SET replied_at = :b_now"
    " WHERE id = (SELECT registration_id FROM outbox WHERE id = :b_id) AND replied_at IS NULL"
).bindparams(bindparam("b_now", type_=UTCDateTime()), bindparam("b_id"))


def _mark_sent(connection: Connection, replies: Sequence[tuple[int, datetime]]) -> None:
    """Accepted replies: never sent again; the first reply time of their registrations noted."""
    params = [{"b_id": outbox_id, "b_now": when} for outbox_id, when in replies]
    connection.execute(_MARK_SENT, params)
    connection.execute(_MARK_REPLIED, params)


class BufferedWriteError(Exception):
    """A batch's held-back inserts failed to write (a constraint another process beat us to): the whole
    transaction is void; decide the batch again without the buffer, mail by mail."""


@dataclass
class _Savepoint:
    """A savepoint of a buffered transaction: where the buffer stood, and the real SAVEPOINT once needed."""

    marks: dict[Table, int]
    nested: SessionTransaction | None = None


class _Buffer:
    """The inserts of a batch transaction, held back and written with one executemany per table.

    The ids are reserved up front (SQLite: the transaction holds the write lock from BEGIN IMMEDIATE, so
    max(id) + 1 onwards is ours; PostgreSQL: nextval of the table's sequence), so callers get them at once.
    Rows are written, in foreign-key order, before anything reads or writes the database through the
    session (see `Database.__init__`) and at commit. A savepoint costs no SAVEPOINT statement until a write
    inside it reaches the database; rolled back, it drops its rows from the buffer.
    """

    ORDER: Final = (_LEDGER, _REGISTRATIONS, _AUDIT, _OUTBOX)  # parents before children

    def __init__(self, session: Session) -> None:
        self.session = session
        self.rows: dict[Table, list[dict[str, Any]]] = {table: [] for table in self.ORDER}
        self.written = dict.fromkeys(self.ORDER, 0)
        self.open: list[_Savepoint] = []
        self._ids: dict[Table, list[int]] = {}
        self._ledger: dict[int, dict[str, Any]] = {}  # unwritten ledger rows by id (set_ledger_outcome)
        self._writing = False

    def add(self, table: Table, values: dict[str, Any]) -> int:
        """Hold one row back; returns its id."""
        ids = self._ids.get(table)
        if not ids:
            ids = self._ids[table] = self._reserve(table)
        values["id"] = row_id = ids.pop()
        self.rows[table].append(values)
        if table is _LEDGER:
            self._ledger[row_id] = values
        return row_id

    def _reserve(self, table: Table) -> list[int]:
        """Free ids for the table, the next one last."""
        connection = self.session.connection()
        if connection.dialect.name == "postgresql":
            found = connection.execute(
                text("SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, 100)"),
                {"t": table.name},
            )
            return sorted((int(n) for (n,) in found), reverse=True)
        top = int(connection.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one())
        highest = max([top, *(r["id"] for r in self.rows[table])])
        return list(range(highest + 100, highest, -1))

    def unwritten_ledger_row(self, ledger_id: int) -> dict[str, Any] | None:
        """The ledger row's values while it still waits in the buffer."""
        return self._ledger.get(ledger_id)

    def flush(self, *, writing: bool) -> None:
        """Write what waits, before the session reads (`writing` False) or writes."""
        if self._writing:
            return
        self._writing = True
        try:
            for savepoint in self.open:
                if savepoint.nested is None:
                    self._write(savepoint.marks)
                    beyond = any(len(self.rows[t]) > savepoint.marks[t] for t in self.ORDER)
                    if not writing and not beyond:
                        return  # a read, and nothing of the savepoint's own to show it: no SAVEPOINT needed
                    savepoint.nested = self.session.begin_nested()
            self._write(None)
        finally:
            self._writing = False

    def _write(self, marks: dict[Table, int] | None) -> None:
        for table in self.ORDER:
            rows = self.rows[table]
            start, end = self.written[table], len(rows) if marks is None else marks[table]
            if end <= start:
                continue
            try:
                self.session.connection().execute(insert(table), rows[start:end])
            except DBAPIError as exc:
                raise BufferedWriteError(f"{table.name}: {type(exc.orig).__name__}") from exc
            self.written[table] = end
            if table is _LEDGER:
                for row in rows[start:end]:
                    self._ledger.pop(row["id"], None)

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """See the class docstring; on an exception the rows added inside are gone."""
        self.session.flush()  # ORM changes made before it are not its own
        savepoint = _Savepoint({t: len(self.rows[t]) for t in self.ORDER})
        self.open.append(savepoint)
        try:
            yield
        except BaseException:
            self.open.pop()
            if savepoint.nested is not None:
                savepoint.nested.rollback()
            for table, mark in savepoint.marks.items():
                for row in self.rows[table][mark:]:
                    self._ledger.pop(row["id"], None)
                del self.rows[table][mark:]
                self.written[table] = min(self.written[table], mark)
            raise
        self.open.pop()
        if savepoint.nested is not None:
            savepoint.nested.commit()


def make_engine(url: str) -> Engine:
    """An engine for the URL, with SQLite made safe for concurrent use.

    Errors never carry the statement's parameters (names and addresses): hide_parameters. An SQLite
    file is created 0600 before SQLite opens it, and kept so with its companion files (private.py).
    """
    if url.startswith("sqlite"):
        path = _sqlite_file(url)
        if path is not None:
            tightened = keep_private(path)
            if tightened:
                log.warning("made private (mode 0600: personal data): %s", ", ".join(tightened))
        engine = create_engine(url, connect_args={"timeout": 30}, hide_parameters=True)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True, hide_parameters=True)


def _sqlite_file(url: str) -> str | None:
    """The file of an SQLite URL; None for an in-memory database or a URI filename (file:...)."""
    parsed = make_url(url)
    path = parsed.database
    if not path or path == ":memory:" or path.startswith("file:") or parsed.query.get("uri"):
        return None
    return path


class Database:
    """The database: engine, migrations, and transactions (units of work)."""

    def __init__(self, url: str, *, fold_subaddress: bool = True) -> None:
        self.url = url
        self.fold_subaddress = fold_subaddress  # one person per address without its +tag ([bot] setting)
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # A buffered transaction writes its held-back rows before the session touches the database.
        event.listen(self._sessions, "do_orm_execute", _flush_before_statement)
        event.listen(self._sessions, "before_flush", _flush_before_unit_of_work)

    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision (safe with two processes starting at once).

        A schema already at SCHEMA_REVISION is left alone without loading Alembic (a tenth of a second at
        every start of every command).
        """
        if self._schema_revision() == SCHEMA_REVISION:
            return
        from mailbot.adapters import migrate  # noqa: PLC0415 (alembic is only needed here)

        migrate.upgrade(self.engine)

    def has_schema(self) -> bool:
        """Whether any command has created the schema yet (a server that can't be reached raises)."""
        return inspect(self.engine).has_table("alembic_version")

    def _schema_revision(self) -> str | None:
        """The revision the database's schema is at (None: no schema yet, or not one Alembic wrote)."""
        try:
            with self.engine.connect() as conn:
                found = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        except DBAPIError:
            return None
        return str(found[0]) if len(found) == 1 else None

    @contextmanager
    def transaction(self, *, buffered: bool = False) -> Iterator[Tx]:
        """One unit of work: committed on success, rolled back on any exception.

        `buffered`: inserts are held back and written together (a batch of mails; see `_Buffer`).
        """
        with self._sessions() as session, session.begin():
            tx = Tx(session, buffered=buffered, fold_subaddress=self.fold_subaddress)
            session.info["tx"] = tx
            yield tx
            tx.flush()

    def mark_sent(self, outbox_id: int, now: datetime) -> None:
        """The server accepted the reply: never send it again; note the first reply time.

        A transaction of its own, without a Session: the sender's hot path, once per accepted reply.
        """
        if self.engine.dialect.name == "postgresql":
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.execute(_MARK_SENT_PG, {"b_id": outbox_id, "b_now": now})
            return
        with self.engine.begin() as connection:
            _mark_sent(connection, [(outbox_id, now)])

    @property
    def in_memory(self) -> bool:
        """An in-memory SQLite database: no other process can see it."""
        path = self.engine.url.database
        return self.engine.dialect.name == "sqlite" and (not path or path == ":memory:")

    def sent_journal(self) -> SentJournal | None:
        """The journal a sending process records accepted replies in: SQLite files only (see journal.py)."""
        if self.engine.dialect.name != "sqlite" or self.in_memory:
            return None
        return SentJournal(Path(f"{self.engine.url.database}.sent"))

    def dispose(self) -> None:
        """Close all pooled connections."""
        self.engine.dispose()

    @contextmanager
    def leader(self) -> Iterator[bool]:
        """Try to become the one process that runs passes; yields whether it succeeded (never waits).

        PostgreSQL: a session advisory lock on a connection held for the pass. SQLite: an exclusive
        flock on a file next to the database (the database itself is on the same machine by nature).
        The unique constraints (ledger identity, one active registration per person) stay the last line of
        defence should two processes ever run a pass at once.
        """
        if self.engine.dialect.name == "postgresql":
            with self.engine.connect() as conn:
                got = bool(
                    conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": _PG_LEADER_LOCK}).scalar()
                )
                conn.commit()
                try:
                    yield got
                finally:
                    if got:
                        conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_LEADER_LOCK})
                        conn.commit()
            return
        path = self.engine.url.database
        if not path or path == ":memory:":
            yield True
            return
        with os.fdopen(open_private(f"{path}.leader", os.O_RDWR), "r+b") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _flush_before_statement(state: ORMExecuteState) -> None:
    session = state.session
    tx = session.info.get("tx")
    if tx is None or tx.buffer is None:
        return
    if session.new or session.dirty or session.deleted:
        # ORM changes first, through the unit of work: its before_flush opens the savepoint's SAVEPOINT
        # before they are written (a SAVEPOINT opened from here would flush them ahead of itself).
        session.flush()
    else:
        tx.buffer.flush(writing=not state.is_select)


def _flush_before_unit_of_work(session: Session, *_: object) -> None:
    tx = session.info.get("tx")
    if tx is not None and tx.buffer is not None:
        tx.buffer.flush(writing=True)


class DuplicateMessageError(Exception):
    """The ledger already holds this message (another process was faster): nothing to do."""


class Tx:
    """The operations of one transaction, in domain words."""

    def __init__(self, session: Session, *, buffered: bool = False, fold_subaddress: bool = True) -> None:
        self.session = session
        self.fold_subaddress = fold_subaddress
        self.buffer = _Buffer(session) if buffered else None
        # Read-through caches for a batch of messages in one transaction; kept exact by this class's own
        # writes and dropped when a savepoint rolls back (see `savepoint`).
        self._counts: dict[str, EventCounts] = {}
        self._access_started: set[str] = set()
        self._unregistered: set[tuple[str, str]] = set()  # (event, person) known to hold no registration
        self._replies: dict[str, list[int]] = {}  # address -> [replies, limit notices] since the prefetch

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A SAVEPOINT: on an exception only the work inside it is undone, the transaction goes on."""
        try:
            with self.buffer.savepoint() if self.buffer else self.session.begin_nested():
                yield
        except BaseException:
            self._counts.clear()
            self._access_started.clear()
            self._unregistered.clear()
            self._replies.clear()
            raise

    def _count_change(self, event_id: str, old: str | None, new: str | None, position: int = 0) -> None:
        """Keep the cached counts exact after a registration changed status in this transaction."""
        counts = self._counts.get(event_id)
        if counts is None:
            return
        delta = {Status.CONFIRMED.value: 0, Status.WAITLISTED.value: 0}
        for status, step in ((old, -1), (new, 1)):
            if status in delta:
                delta[status] += step
        self._counts[event_id] = EventCounts(
            confirmed=counts.confirmed + delta[Status.CONFIRMED.value],
            waitlisted=counts.waitlisted + delta[Status.WAITLISTED.value],
            registrations=max(counts.registrations, position),
        )

    # --- events ---
    def sync_events(self, events: Sequence[Event]) -> None:
        """Insert or update the configured events (an upsert: two processes may start at once)."""
        for ev in events:
            values = {
                "title": ev.title,
                "keyword": ev.keyword,
                "capacity": ev.capacity,
                "starts_at": ev.starts_at,
            }
            self._upsert(EventRow, {"id": ev.id}, values)

    def _upsert(self, model: type[Base], key: dict[str, Any], values: dict[str, Any]) -> None:
        """INSERT ... ON CONFLICT DO UPDATE, in the dialect's own syntax."""
        dialect = self.session.get_bind().dialect.name
        insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
        statement = insert(model).values(**key, **values)
        self.session.execute(statement.on_conflict_do_update(index_elements=list(key), set_=values))

    def lock_event(self, event_id: str) -> None:
        """Serialise seat allocation for one event (row lock on PostgreSQL; SQLite's BEGIN IMMEDIATE)."""
        self.session.execute(select(EventRow.id).where(EventRow.id == event_id).with_for_update()).one()

    def _by_status(self, event_id: str) -> dict[str, int]:
        """How many registrations of the event have each status."""
        rows = self.session.execute(
            select(RegistrationRow.status, func.count())
            .where(RegistrationRow.event_id == event_id)
            .group_by(RegistrationRow.status)
        ).all()
        return {str(status): int(n) for status, n in rows}

    def counts(self, event_id: str) -> EventCounts:
        """Confirmed, waitlisted and all registrations of the event (read once per transaction)."""
        cached = self._counts.get(event_id)
        if cached is not None:
            return cached
        by_status = self._by_status(event_id)
        max_position = self.session.scalar(
            select(func.coalesce(func.max(RegistrationRow.position), 0)).where(
                RegistrationRow.event_id == event_id
            )
        )
        counts = EventCounts(
            confirmed=by_status.get(Status.CONFIRMED.value, 0),
            waitlisted=by_status.get(Status.WAITLISTED.value, 0),
            registrations=int(max_position or 0),
        )
        self._counts[event_id] = counts
        return counts

    def prefetch(self, event_ids: Sequence[str], addresses: Sequence[str], replies_since: datetime) -> None:
        """Read ahead for a batch of mails (two queries instead of two per mail): which of these addresses
        hold no registration for these events, and how many replies each got since `replies_since`.

        `existing` and `replies_to` answer from it, kept exact by this transaction's own writes. A reply
        count read ahead may include a reply from the moment between `replies_since` and a mail's own
        "a day ago" (the batch's first mail is read well under a second before its last).
        """
        wanted = sorted(set(addresses))
        if not wanted or not event_ids:
            return
        people = sorted({self.person(a) for a in wanted})
        column = self._person_column()
        active = {
            (str(event), str(person))
            for event, person in self.session.execute(
                select(RegistrationRow.event_id, column).where(
                    RegistrationRow.event_id.in_(list(event_ids)),
                    column.in_(people),
                    RegistrationRow.status != Status.CANCELLED.value,
                )
            )
        }
        self._unregistered = {(e, p) for e in event_ids for p in people if (e, p) not in active}
        self._replies = self._reply_counts(wanted, replies_since)

    def person(self, email_normalized: str) -> str:
        """Who an address is for duplicates: the address, or without its +tag (`[bot] fold_subaddress`)."""
        return subaddress.fold(email_normalized) if self.fold_subaddress else email_normalized

    def _person_column(self) -> InstrumentedAttribute[str | None]:
        """The column `person` values are compared with."""
        return RegistrationRow.email_folded if self.fold_subaddress else RegistrationRow.email_normalized

    def _reply_counts(self, addresses: Sequence[str], since: datetime) -> dict[str, list[int]]:
        """For each address: [replies but limit notices, limit notices] queued since then (one query)."""
        is_limit = case((OutboxRow.kind == "limit", 1), else_=0)
        rows = self.session.execute(
            select(OutboxRow.recipient_normalized, func.count(), func.coalesce(func.sum(is_limit), 0))
            .where(OutboxRow.recipient_normalized.in_(list(addresses)), OutboxRow.created_at >= since)
            .group_by(OutboxRow.recipient_normalized)
        )
        counts = {address: [0, 0] for address in addresses}
        for address, total, notices in rows:
            counts[address] = [int(total) - int(notices or 0), int(notices or 0)]
        return counts

    def existing(self, event_id: str, email_normalized: str) -> Existing | None:
        """The person's active registration for the event, with its current seat or waitlist place."""
        if (event_id, self.person(email_normalized)) in self._unregistered:
            return None
        row = self.active_row(event_id, email_normalized)
        return None if row is None else self.existing_of(row)

    def existing_of(self, row: RegistrationRow) -> Existing:
        """A registration row as the booking sees it: status, position, current seat or waitlist place."""
        event_id = row.event_id
        ahead = int(
            self.session.scalar(
                select(func.count()).where(
                    RegistrationRow.event_id == event_id,
                    RegistrationRow.status == row.status,
                    RegistrationRow.position < row.position,
                )
            )
            or 0
        )
        status = Status(row.status)
        return Existing(
            status=status,
            position=row.position,
            seat=ahead + 1 if status is Status.CONFIRMED else None,
            waitlist_position=ahead + 1 if status is Status.WAITLISTED else None,
        )

    def add_registration(
        self,
        *,
        event_id: str,
        position: int,
        status: Status,
        name: str,
        email: str | None,
        email_normalized: str | None,
        channel: str,
        received_at: datetime,
        ledger_id: int | None,
        message_id: str | None,
        now: datetime,
        actor: str,
        phone: str | None = None,
    ) -> int:
        """Insert a registration (and its audit entry); returns its id."""
        registration_id = self._insert(
            RegistrationRow,
            event_id=event_id,
            position=position,
            status=status.value,
            name=name,
            email=email,
            email_normalized=email_normalized,
            email_folded=subaddress.fold(email_normalized) if email_normalized else None,
            phone=phone,
            channel=channel,
            received_at=received_at,
            ledger_id=ledger_id,
            message_id=message_id,
            created_at=now,
        )
        self._count_change(event_id, None, status.value, position)
        if email_normalized:
            self._unregistered.discard((event_id, self.person(email_normalized)))
        self.audit(
            event_id,
            registration_id,
            actor=actor,
            action="registered",
            old=None,
            new=status.value,
            now=now,
            detail=f"channel {channel}, position {position}",
        )
        return registration_id

    def flush(self) -> None:
        """Write the held-back inserts of a buffered transaction now."""
        if self.buffer is not None:
            self.buffer.flush(writing=True)

    def _insert(self, model: type[Base], **values: Any) -> int:
        """A plain INSERT (no unit of work: a hot path of every registration); returns the new id."""
        self.session.flush()  # ORM changes first, in their order
        if self.buffer is not None:
            return self.buffer.add(_table(model), values)
        result = self.session.connection().execute(insert(_table(model)), values)  # one compiled form, cached
        key = result.inserted_primary_key
        assert key is not None
        return int(key[0])

    def cancel(self, event_id: str, email_normalized: str, now: datetime, actor: str) -> int | None:
        """Cancel the person's active registration; returns its id (None if there was none)."""
        row = self.active_row(event_id, email_normalized)
        return None if row is None else self.cancel_row(row, now, actor)

    def cancel_row(self, row: RegistrationRow, now: datetime, actor: str) -> int:
        """Cancel one registration row (audited); returns its id."""
        old = row.status
        row.status = Status.CANCELLED.value
        row.cancelled_at = now
        self._count_change(row.event_id, old, row.status)
        self.audit(row.event_id, row.id, actor=actor, action="cancelled", old=old, new=row.status, now=now)
        return row.id

    def audit(
        self,
        event_id: str,
        registration_id: int,
        *,
        actor: str,
        action: str,
        old: str | None,
        new: str | None,
        now: datetime,
        detail: str = "",
    ) -> None:
        """Write one audit entry for a registration."""
        self._insert(
            AuditRow,
            at=now,
            event_id=event_id,
            registration_id=registration_id,
            actor=actor,
            action=action,
            old_status=old,
            new_status=new,
            detail=detail,
        )

    def registration(self, registration_id: int) -> RegistrationRow | None:
        """A registration by id."""
        return self.session.get(RegistrationRow, registration_id)

    def registrations(self, event_id: str, status: str | None = None) -> list[RegistrationRow]:
        """An event's registrations in arrival order, optionally of one status."""
        query = select(RegistrationRow).where(RegistrationRow.event_id == event_id)
        if status:
            query = query.where(RegistrationRow.status == status)
        return list(self.session.scalars(query.order_by(RegistrationRow.position)))

    def active_by_phone(self, event_id: str, phone: str) -> RegistrationRow | None:
        """The active registration with this phone number (phone registrations without email)."""
        return self._active(event_id, RegistrationRow.phone == phone)

    def last_received(self, event_id: str) -> datetime | None:
        """When the event's latest registration (of any status) was received; None without any."""
        found = self.session.scalar(
            select(func.max(RegistrationRow.received_at)).where(RegistrationRow.event_id == event_id)
        )
        if found is None:
            return None
        return found if found.tzinfo is not None else found.replace(tzinfo=UTC)

    def history(
        self, event_id: str, email_normalized: str | None = None
    ) -> list[tuple[AuditRow, RegistrationRow]]:
        """Audit entries of an event (or of one person in it), oldest first, with their registration."""
        query = (
            select(AuditRow, RegistrationRow)
            .join(RegistrationRow, AuditRow.registration_id == RegistrationRow.id)
            .where(AuditRow.event_id == event_id)
        )
        if email_normalized:
            query = query.where(RegistrationRow.email_normalized == email_normalized)
        return [(a, r) for a, r in self.session.execute(query.order_by(AuditRow.id)).all()]

    def unserved(self, event_id: str, column: str) -> list[RegistrationRow]:
        """Confirmed registrations with an address that haven't had this mailing (access or reminder) yet."""
        attribute = getattr(RegistrationRow, column)
        return list(
            self.session.scalars(
                select(RegistrationRow)
                .where(
                    RegistrationRow.event_id == event_id,
                    RegistrationRow.status == Status.CONFIRMED.value,
                    RegistrationRow.email.is_not(None),
                    attribute.is_(None),
                )
                .order_by(RegistrationRow.position)
            )
        )

    def mark_served(self, registration_id: int, column: str, now: datetime) -> None:
        """Record that a registration got a mailing (access_sent_at or reminder_sent_at)."""
        row = self.session.get(RegistrationRow, registration_id)
        if row is not None and getattr(row, column) is None:
            setattr(row, column, now)
            if column == "access_sent_at":
                self._access_started.add(row.event_id)

    def access_started(self, event_id: str) -> bool:
        """Whether the access data of the event has gone out to anyone (once known, not asked again)."""
        if event_id in self._access_started:
            return True
        started = self.session.scalar(
            select(RegistrationRow.id)
            .where(RegistrationRow.event_id == event_id, RegistrationRow.access_sent_at.is_not(None))
            .limit(1)
        )
        if started is not None:
            self._access_started.add(event_id)
        return started is not None

    def active_row(self, event_id: str, email_normalized: str) -> RegistrationRow | None:
        """The person's active registration row for the event, or None (the +tag folded if configured)."""
        return self._active(event_id, self._person_column() == self.person(email_normalized))

    def _active(self, event_id: str, who: ColumnElement[bool]) -> RegistrationRow | None:
        """The event's active (not cancelled) registration matching `who`, or None."""
        return self.session.scalars(
            select(RegistrationRow).where(
                RegistrationRow.event_id == event_id, who, RegistrationRow.status != Status.CANCELLED.value
            )
        ).first()

    def waitlist_head(self, event_id: str, count: int) -> list[RegistrationRow]:
        """The first `count` waitlisted registrations in arrival order (strict FIFO)."""
        if count <= 0:
            return []
        return list(
            self.session.scalars(
                select(RegistrationRow)
                .where(
                    RegistrationRow.event_id == event_id, RegistrationRow.status == Status.WAITLISTED.value
                )
                .order_by(RegistrationRow.position)
                .limit(count)
            )
        )

    def promote(self, registration_id: int, now: datetime) -> int:
        """Give a waitlisted registration a seat (audited); returns its seat number among the confirmed."""
        row = self.session.get(RegistrationRow, registration_id)
        assert row is not None
        self._count_change(row.event_id, row.status, Status.CONFIRMED.value)
        row.status = Status.CONFIRMED.value
        row.promoted_at = now
        self.audit(
            row.event_id,
            row.id,
            actor="system",
            action="promoted",
            old=Status.WAITLISTED.value,
            new=row.status,
            now=now,
            detail="a seat became free",
        )
        self.session.flush()
        return int(
            self.session.scalar(
                select(func.count()).where(
                    RegistrationRow.event_id == row.event_id,
                    RegistrationRow.status == Status.CONFIRMED.value,
                    RegistrationRow.position <= row.position,
                )
            )
            or 0
        )

    # --- ledger ---
    def add_ledger(
        self,
        *,
        folder: str,
        uidvalidity: int,
        uid: int,
        message_id: str | None,
        internaldate: datetime,
        size: int,
        outcome: str,
        reason: str,
        rule_hits: Sequence[tuple[str, str]],
        sender: str | None,
        subject: str | None,
        now: datetime,
        intent: str | None = None,
        content_hash: str | None = None,
        decoded_hash: str | None = None,
    ) -> int:
        """Record a processed message; raises DuplicateMessageError if it is already recorded.

        Call it inside a savepoint (`Tx.savepoint`): the failed INSERT must not end the whole transaction.
        """
        values = {
            "folder": folder,
            "uidvalidity": uidvalidity,
            "uid": uid,
            "message_id": message_id,
            "internaldate": internaldate,
            "size": size,
            "outcome": outcome,
            "reason": reason,
            "rule_hits": json.dumps([list(h) for h in rule_hits], ensure_ascii=False),
            "intent": intent,
            "content_hash": content_hash,
            "decoded_hash": decoded_hash,
            "sender": sender,
            "subject": subject,
            "processed_at": now,
            "flagged": False,
        }
        try:
            return self._insert(LedgerRow, **values)
        except IntegrityError as exc:
            raise DuplicateMessageError(f"{folder}/{uidvalidity}/{uid}") from exc

    def first_by_hash(
        self, content_hashes: Sequence[str], decoded_hashes: Sequence[str] = ()
    ) -> dict[str, tuple[str, int, int]]:
        """For each content or decoded hash (core/identity.py) already in the ledger: where the first mail
        with it was (one query per kind; the two kinds hash different texts, so they never collide)."""
        found: dict[str, tuple[str, int, int]] = {}
        for column, hashes in (
            (LedgerRow.content_hash, content_hashes),
            (LedgerRow.decoded_hash, decoded_hashes),
        ):
            if hashes:
                rows = self.session.execute(
                    select(column, LedgerRow.folder, LedgerRow.uidvalidity, LedgerRow.uid)
                    .where(column.in_(sorted(set(hashes))))
                    .order_by(LedgerRow.id.desc())
                )
                found.update({str(h): (folder, int(validity), int(uid)) for h, folder, validity, uid in rows})
        return found

    def first_by_message_id(self, message_ids: Sequence[str]) -> dict[str, tuple[str, int, int, str, str]]:
        """Rows recorded before decoded hashes existed (none stored), by Message-ID: where the first mail
        with it was, with its stored sender and subject (one query)."""
        if not message_ids:
            return {}
        rows = self.session.execute(
            select(
                LedgerRow.message_id,
                LedgerRow.folder,
                LedgerRow.uidvalidity,
                LedgerRow.uid,
                LedgerRow.sender,
                LedgerRow.subject,
            )
            .where(LedgerRow.message_id.in_(sorted(set(message_ids))), LedgerRow.decoded_hash.is_(None))
            .order_by(LedgerRow.id.desc())
        )
        return {
            str(mid): (folder, int(validity), int(uid), sender or "", subject or "")
            for mid, folder, validity, uid, sender, subject in rows
        }

    def set_ledger_outcome(self, ledger_id: int, outcome: str, reason: str) -> None:
        """Update the verdict of a ledger row written earlier in this transaction."""
        waiting = self.buffer.unwritten_ledger_row(ledger_id) if self.buffer else None
        if waiting is not None:
            waiting.update(outcome=outcome, reason=reason)
            return
        self.flush()
        self.session.connection().execute(
            _SET_OUTCOME, {"b_id": ledger_id, "b_outcome": outcome, "b_reason": reason}
        )

    def verdicts(
        self,
        folder: str,
        uidvalidity: int,
        *,
        uids: Sequence[int] | None = None,
        outcomes: Sequence[str] | None = None,
    ) -> list[LedgerRow]:
        """The folder's ledger rows (of these UIDs, of these outcomes), in arrival order."""
        query = select(LedgerRow).where(LedgerRow.folder == folder, LedgerRow.uidvalidity == uidvalidity)
        if uids is not None:
            query = query.where(LedgerRow.uid.in_(list(uids)))
        if outcomes is not None:
            query = query.where(LedgerRow.outcome.in_(list(outcomes)))
        return list(self.session.scalars(query.order_by(LedgerRow.internaldate, LedgerRow.uid)))

    def reopen(self, folder: str, uidvalidity: int, uids: Sequence[int], outcomes: Sequence[str]) -> None:
        """Drop the verdicts of these mails (only of these outcomes), so they are decided again."""
        self.flush()
        self.session.execute(
            delete(LedgerRow).where(
                LedgerRow.folder == folder,
                LedgerRow.uidvalidity == uidvalidity,
                LedgerRow.uid.in_(list(uids)),
                LedgerRow.outcome.in_(list(outcomes)),
            )
        )

    def processed_uids(self, folder: str, uidvalidity: int) -> set[int]:
        """UIDs of the folder already in the ledger."""
        return set(
            self.session.scalars(
                select(LedgerRow.uid).where(LedgerRow.folder == folder, LedgerRow.uidvalidity == uidvalidity)
            )
        )

    def unflagged_uids(self, folder: str, uidvalidity: int, outcomes: Sequence[str]) -> list[int]:
        """Registration mails committed but not yet marked/moved (a crash came between)."""
        return list(
            self.session.scalars(
                select(LedgerRow.uid)
                .where(
                    LedgerRow.folder == folder,
                    LedgerRow.uidvalidity == uidvalidity,
                    LedgerRow.outcome.in_(outcomes),
                    LedgerRow.flagged.is_(False),
                )
                .order_by(LedgerRow.uid)
            )
        )

    def mark_flagged(self, folder: str, uidvalidity: int, uids: Sequence[int]) -> None:
        """Remember that these messages were marked/moved."""
        if uids:
            self.session.execute(
                update(LedgerRow)
                .where(
                    LedgerRow.folder == folder, LedgerRow.uidvalidity == uidvalidity, LedgerRow.uid.in_(uids)
                )
                .values(flagged=True)
            )

    def ledger_entries(self, key: str) -> list[LedgerRow]:
        """Ledger rows by UID (digits) or Message-ID."""
        if key.isdigit():
            query = select(LedgerRow).where(LedgerRow.uid == int(key))
        else:
            mid = key if key.startswith("<") else f"<{key}>"
            query = select(LedgerRow).where(LedgerRow.message_id == mid)
        return list(self.session.scalars(query.order_by(LedgerRow.id)))

    # --- outbox ---
    def add_outbox(
        self,
        *,
        event_id: str | None,
        registration_id: int | None,
        ledger_id: int | None,
        kind: str,
        envelope_from: str,
        recipient: str,
        recipient_normalized: str,
        message_id: str,
        data: bytes,
        now: datetime,
    ) -> int:
        """Queue a reply in the same transaction as the decision it reports."""
        if recipient_normalized in self._replies:
            self._replies[recipient_normalized][1 if kind == "limit" else 0] += 1
        return self._insert(
            OutboxRow,
            event_id=event_id,
            registration_id=registration_id,
            ledger_id=ledger_id,
            kind=kind,
            envelope_from=envelope_from,
            recipient=recipient,
            recipient_normalized=recipient_normalized,
            message_id=message_id,
            data=data,
            created_at=now,
            attempts=0,
            next_attempt_at=now,
        )

    def replies_to(self, recipient_normalized: str, since: datetime) -> tuple[int, int]:
        """Replies to an address since then: (all but limit notices, limit notices); read ahead or asked."""
        cached = self._replies.get(recipient_normalized)
        replies, notices = cached or self._reply_counts([recipient_normalized], since)[recipient_normalized]
        return replies, notices

    def events_of_replies(self, message_ids: Sequence[str]) -> list[str]:
        """The events our replies with these Message-IDs were about."""
        rows = self.session.scalars(
            select(OutboxRow.event_id).where(OutboxRow.message_id.in_(list(message_ids))).distinct()
        )
        return [e for e in rows if e is not None]

    def find_reply(
        self, message_ids: Sequence[str], recipients: Sequence[str], recent_since: datetime | None = None
    ) -> int | None:
        """Our reply a bounce is about: by its Message-ID, else a recent one to a failed recipient."""
        if message_ids:
            found = self.session.scalar(
                select(OutboxRow.id).where(OutboxRow.message_id.in_(list(message_ids))).order_by(OutboxRow.id)
            )
            if found is not None:
                return int(found)
        if recipients and recent_since is not None:
            # No Message-ID of ours in the report: only a reply sent lately to a failed recipient qualifies.
            found = self.session.scalar(
                select(OutboxRow.id)
                .where(OutboxRow.recipient_normalized.in_([r.lower() for r in recipients]))
                .where(OutboxRow.sent_at >= recent_since)
                .order_by(OutboxRow.id.desc())
            )
            if found is not None:
                return int(found)
        return None

    def mark_bounced(self, outbox_id: int, now: datetime) -> str:
        """Record a bounce of our reply and flag its registration undeliverable; returns the recipient."""
        row = self.session.get(OutboxRow, outbox_id)
        assert row is not None
        row.bounced_at = row.bounced_at or now
        if row.registration_id is not None:
            self.session.execute(
                update(RegistrationRow)
                .where(RegistrationRow.id == row.registration_id, RegistrationRow.undeliverable_at.is_(None))
                .values(undeliverable_at=now)
            )
        return row.recipient

    def sent_since(self, since: datetime) -> int:
        """How many replies the SMTP server accepted since then (for the hourly limit)."""
        return int(self.session.scalar(select(func.count()).where(OutboxRow.sent_at >= since)) or 0)

    def recipients_sent_since(self, since: datetime) -> list[str]:
        """The normalised recipient of each reply the SMTP server accepted since then (the storm check)."""
        found = self.session.execute(
            select(OutboxRow.recipient_normalized, OutboxRow.recipient).where(OutboxRow.sent_at >= since)
        )
        return [normalized or recipient.lower() for normalized, recipient in found]

    def recipients_of(self, outbox_ids: Sequence[int]) -> dict[int, str]:
        """The normalised recipient of each of these replies, by id."""
        found = self.session.execute(
            select(OutboxRow.id, OutboxRow.recipient_normalized, OutboxRow.recipient).where(
                OutboxRow.id.in_(list(outbox_ids))
            )
        )
        return {id_: normalized or recipient.lower() for id_, normalized, recipient in found}

    def pending_replies(self) -> int:
        """Replies waiting to be sent."""
        return int(
            self.session.scalar(
                select(func.count()).where(OutboxRow.sent_at.is_(None), OutboxRow.failed_at.is_(None))
            )
            or 0
        )

    def claim_due_outbox(self, now: datetime, limit: int, lease_until: datetime) -> list[ClaimedReply]:
        """Claim unsent, not failed replies that are due, oldest first, for one sender.

        Claiming moves their next attempt to `lease_until`, so a second process flushing at the same time
        skips them (PostgreSQL: SKIP LOCKED; SQLite: BEGIN IMMEDIATE serialises the claim). If this
        process dies while sending, the lease runs out and the reply goes out on a later pass. The
        replies come as plain tuples of what sending needs, and one UPDATE claims them all.
        """
        found = self.session.execute(
            select(
                OutboxRow.id, OutboxRow.envelope_from, OutboxRow.recipient, OutboxRow.data, OutboxRow.attempts
            )
            .where(
                OutboxRow.sent_at.is_(None),
                OutboxRow.failed_at.is_(None),
                OutboxRow.next_attempt_at <= now,
            )
            .order_by(OutboxRow.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        replies = [ClaimedReply(*row) for row in found]
        if replies:
            self.session.execute(
                update(OutboxRow)
                .where(OutboxRow.id.in_([reply.id for reply in replies]))
                .values(next_attempt_at=lease_until)
                .execution_options(synchronize_session=False)
            )
        return replies

    def mark_sent(self, replies: Sequence[tuple[int, datetime]]) -> None:
        """Record replies the server accepted (outbox id, when), e.g. from the sent journal."""
        if replies:
            self.session.flush()
            self.flush()
            _mark_sent(self.session.connection(), replies)

    def release(self, outbox_ids: Sequence[int], now: datetime) -> None:
        """Give claimed but unsent replies back: due again right now."""
        if outbox_ids:
            self.session.execute(
                update(OutboxRow)
                .where(OutboxRow.id.in_(list(outbox_ids)), OutboxRow.sent_at.is_(None))
                .values(next_attempt_at=now)
            )

    def release_claim(self, outbox_ids: Sequence[int], lease_until: datetime, now: datetime) -> int:
        """Give back the replies still held by one claim (lease `lease_until`): due again now; how many.

        A reply changed since that claim (sent, failed, deferred after a 4xx, or claimed anew by another
        sender) has another `next_attempt_at` and is left alone.
        """
        if not outbox_ids:
            return 0
        held = select(OutboxRow.id).where(
            OutboxRow.id.in_(list(outbox_ids)),
            OutboxRow.sent_at.is_(None),
            OutboxRow.failed_at.is_(None),
            OutboxRow.next_attempt_at == lease_until,
        )
        ids = list(self.session.scalars(held))
        self.release(ids, now)
        return len(ids)

    def release_kind(self, event_id: str, kind: str, now: datetime) -> None:
        """Make every unsent, not failed mail of one kind for an event due right now."""
        self.session.execute(
            update(OutboxRow)
            .where(
                OutboxRow.event_id == event_id,
                OutboxRow.kind == kind,
                OutboxRow.sent_at.is_(None),
                OutboxRow.failed_at.is_(None),
            )
            .values(next_attempt_at=now)
        )

    def mark_failed(
        self, outbox_id: int, now: datetime, error: str, *, permanent: bool, retry_at: datetime
    ) -> None:
        """A refused reply: permanently failed (5xx) or retried later (4xx, connection trouble)."""
        row = self.session.get(OutboxRow, outbox_id)
        if row is None or row.sent_at is not None:
            return
        row.attempts += 1
        row.last_error = error[:1000]
        if permanent:
            row.failed_at = now
        else:
            row.next_attempt_at = retry_at

    # --- state, reports ---
    def set_state(self, key: str, value: str) -> None:
        """Store a named value (an upsert: two processes may write the same key at once)."""
        self._upsert(StateRow, {"key": key}, {"value": value})

    def clear_state(self, key: str) -> None:
        """Forget a named value."""
        row = self.session.get(StateRow, key)
        if row is not None:
            self.session.delete(row)

    def get_state(self, key: str) -> str | None:
        """A named value, or None."""
        row = self.session.get(StateRow, key)
        return None if row is None else row.value

    def summaries(self) -> list[EventSummary]:
        """Per event: capacity, confirmed, waitlisted, cancelled, replies pending and failed."""
        result = []
        for ev in self.session.scalars(select(EventRow).order_by(EventRow.starts_at, EventRow.id)):
            by_status = self._by_status(ev.id)
            pending = self.session.scalar(
                select(func.count()).where(
                    OutboxRow.event_id == ev.id, OutboxRow.sent_at.is_(None), OutboxRow.failed_at.is_(None)
                )
            )
            failed = self.session.scalar(
                select(func.count()).where(OutboxRow.event_id == ev.id, OutboxRow.failed_at.is_not(None))
            )
            result.append(
                EventSummary(
                    event_id=ev.id,
                    capacity=ev.capacity,
                    confirmed=int(by_status.get(Status.CONFIRMED.value, 0)),
                    waitlisted=int(by_status.get(Status.WAITLISTED.value, 0)),
                    cancelled=int(by_status.get(Status.CANCELLED.value, 0)),
                    replies_pending=int(pending or 0),
                    replies_failed=int(failed or 0),
                    undeliverable=int(
                        self.session.scalar(
                            select(func.count()).where(
                                RegistrationRow.event_id == ev.id,
                                RegistrationRow.undeliverable_at.is_not(None),
                            )
                        )
                        or 0
                    ),
                )
            )
        return result

    def triage(self, outcomes: Sequence[str]) -> list[LedgerRow]:
        """Ledger rows that need a person: these outcomes, or replies held back by a limit; oldest first."""
        return list(
            self.session.scalars(
                select(LedgerRow)
                .where(LedgerRow.outcome.in_(list(outcomes)) | LedgerRow.reason.contains("suppressed"))
                .order_by(LedgerRow.internaldate, LedgerRow.uid)
            )
        )

    def failed_replies(self) -> list[OutboxRow]:
        """Replies the SMTP server refused for good, oldest first."""
        return list(
            self.session.scalars(
                select(OutboxRow).where(OutboxRow.failed_at.is_not(None)).order_by(OutboxRow.id)
            )
        )

    def ledger_counts(self) -> dict[str, int]:
        """How many messages the ledger holds per outcome."""
        return {
            str(k): int(v)
            for k, v in self.session.execute(
                select(LedgerRow.outcome, func.count()).group_by(LedgerRow.outcome)
            ).all()
        }

    def export_rows(self, event_id: str | None) -> list[ExportRow]:
        """Registrations in arrival order (per event), with the state of the latest reply, for the CSV."""
        query = select(RegistrationRow).order_by(RegistrationRow.event_id, RegistrationRow.position)
        if event_id is not None:
            query = query.where(RegistrationRow.event_id == event_id)
        latest: dict[int, OutboxRow] = {}
        for row in self.session.scalars(
            select(OutboxRow).where(OutboxRow.registration_id.is_not(None)).order_by(OutboxRow.id)
        ):
            latest[row.registration_id or 0] = row
        registrations = list(self.session.scalars(query))
        seats: list[tuple[int | None, int | None]] = []
        for _, group in itertools.groupby(registrations, key=lambda r: r.event_id):
            seats += booking.places([r.status for r in group])
        return [
            ExportRow(
                event_id=r.event_id,
                position=r.position,
                status=r.status,
                name=r.name,
                email=r.email or "",
                phone=r.phone or "",
                channel=r.channel,
                received_at=r.received_at,
                replied_at=r.replied_at,
                reply_status=_reply_status(r, latest.get(r.id)),
                cancelled_at=r.cancelled_at,
                promoted_at=r.promoted_at,
                seat=seat,
                waitlist_place=place,
            )
            for r, (seat, place) in zip(registrations, seats, strict=True)
        ]


def _reply_status(registration: RegistrationRow, reply: OutboxRow | None) -> str:
    """The state of the latest reply about a registration, as admins read it."""
    if registration.undeliverable_at is not None:
        return "undeliverable"
    if reply is None:
        return "none"
    if reply.sent_at is not None:
        return "sent"
    if reply.failed_at is not None:
        return "failed"
    return "pending"
