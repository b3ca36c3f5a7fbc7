"""The engine and the database: connections, SQLite pragmas, transactions, the leader lock."""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import sessionmaker

from mailbot.adapters.db.journal import SentJournal
from mailbot.adapters.db.outbox import MARK_SENT_PG, mark_sent_on
from mailbot.adapters.db.tx import Tx
from mailbot.adapters.db.unit_of_work import (
    flush_before_core_statement,
    flush_before_statement,
    flush_before_unit_of_work,
)
from mailbot.files import keep_private, open_private
from mailbot.redact import describe_error

log = logging.getLogger("mailbot.adapters.db")
_PG_LEADER_LOCK = 0x6D626C64  # "mbld": the advisory lock of the process running passes


def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:  # noqa: ARG001
    """WAL for concurrent readers, a busy timeout instead of instant 'database is locked'."""
    dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (see _sqlite_begin)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


_READ_ONLY = "mailbot_read_only"  # an execution option: the connection's transaction only reads


def _sqlite_begin(conn: Connection) -> None:
    """BEGIN IMMEDIATE: a writer takes the lock up front, so read-then-write can't deadlock or go stale.

    A read-only transaction (`Database.reading`) begins DEFERRED: in WAL mode it reads a snapshot without
    the write lock, so a console page neither waits for a pass's batch nor holds one up."""
    conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(_READ_ONLY) else "BEGIN IMMEDIATE")


def make_engine(url: str) -> Engine:
    """An engine for the URL, with SQLite made safe for concurrent use.

    Errors never carry the statement's parameters (names and addresses): hide_parameters. An SQLite
    file is created 0600 before SQLite opens it, and kept so with its companion files (mailbot/files.py).
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
        self._readers = sessionmaker(self.engine.execution_options(**{_READ_ONLY: True}))
        # A buffered transaction writes its held-back rows before the session touches the database.
        event.listen(self._sessions, "do_orm_execute", flush_before_statement)
        event.listen(self._sessions, "before_flush", flush_before_unit_of_work)
        event.listen(self.engine, "before_execute", flush_before_core_statement)  # Core statements too

    def has_schema(self) -> bool:
        """Whether any command has created the schema yet (a server that can't be reached raises)."""
        return inspect(self.engine).has_table("alembic_version")

    def schema_revision(self) -> str | None:
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
            try:
                yield tx
                tx.flush()
            finally:
                if tx.buffer is not None:
                    tx.buffer.detach()

    @contextmanager
    def reading(self) -> Iterator[Tx]:
        """A transaction that only reads (the console's pages): SQLite reads a snapshot without the write
        lock; nothing it does is committed."""
        with self._readers() as session:
            try:
                yield Tx(session, fold_subaddress=self.fold_subaddress)
            finally:
                session.rollback()

    def mark_sent(self, outbox_id: int, now: datetime) -> None:
        """The server accepted the reply: never send it again; note the first reply time.

        A transaction of its own, without a Session: the sender's hot path, once per accepted reply.
        """
        if self.engine.dialect.name == "postgresql":
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.execute(MARK_SENT_PG, {"b_id": outbox_id, "b_now": now})
            return
        with self.engine.begin() as connection:
            mark_sent_on(connection, [(outbox_id, now)])

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

    def compact(self) -> None:
        """Physically drop erased values: SQLite keeps old row images in free pages and the WAL until then.

        SQLite: VACUUM rebuilds the file from the live rows, and a TRUNCATE checkpoint empties the WAL.
        PostgreSQL: VACUUM FULL rewrites the four tables that held personal data (old row versions stay in
        the heap until then); it waits at most 10 s for its lock. Best effort: the data is already erased
        logically, a failure here is logged and the next purge tries again.
        """
        try:
            if self.engine.dialect.name == "sqlite":
                # On the DBAPI connection: it runs in autocommit mode (see _sqlite_pragmas), and VACUUM
                # refuses to run inside the BEGIN IMMEDIATE that SQLAlchemy's connections start.
                raw = self.engine.raw_connection()
                try:
                    cursor = raw.cursor()
                    cursor.execute("VACUUM")
                    cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                    cursor.close()
                finally:
                    raw.close()
                return
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("SET lock_timeout = '10s'"))
                conn.execute(text("VACUUM FULL ledger, registrations, outbox, audit_log"))
        except SQLAlchemyError as exc:
            log.warning("compacting the database after erasure failed: %s", describe_error(exc)[:300])

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
