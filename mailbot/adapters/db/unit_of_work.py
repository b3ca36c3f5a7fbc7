"""The unit of work: one session's transaction, its savepoints, and the held-back-insert buffer of a batch."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import func, insert, select, text
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import InstrumentedAttribute, ORMExecuteState, Session, SessionTransaction
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.expression import ReleaseSavepointClause, RollbackToSavepointClause, SavepointClause
from sqlalchemy.sql.schema import Table

from mailbot.adapters.db.schema import AUDIT, LEDGER, OUTBOX, REGISTRATIONS, Base, RegistrationRow, table_of
from mailbot.core import booking, subaddress
from mailbot.core.model import EventCounts, Status
from mailbot.ports.store import BufferedWriteError


@dataclass
class _Savepoint:
    """A savepoint of a buffered transaction: where the buffer stood, and the real SAVEPOINT once needed."""

    marks: dict[Table, int]
    nested: SessionTransaction | None = None


# SAVEPOINT, RELEASE and ROLLBACK TO neither read nor write rows: the buffer's own savepoints emit them, the
# RELEASE while the session commits its nested transaction (no statement of ours may run then).
_TRANSACTION_CONTROL = (SavepointClause, ReleaseSavepointClause, RollbackToSavepointClause)
BUFFER_KEY = "mailbot.buffer"  # in Connection.info while a buffered transaction holds that connection


class Buffer:
    """The inserts of a batch transaction, held back and written with one executemany per table.

    The ids are reserved up front (SQLite: the transaction holds the write lock from BEGIN IMMEDIATE, so
    max(id) + 1 onwards is ours; PostgreSQL: nextval of the table's sequence), so callers get them at once.
    Rows are written, in foreign-key order, before anything reads or writes the database through the
    session (see `Database.__init__`) and at commit. A savepoint costs no SAVEPOINT statement until a write
    inside it reaches the database; rolled back, it drops its rows from the buffer.
    """

    ORDER: Final = (LEDGER, REGISTRATIONS, AUDIT, OUTBOX)  # parents before children

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
            self._writing = True  # reading the free ids is the buffer's own statement: nothing to write first
            try:
                ids = self._ids[table] = self._reserve(table)
            finally:
                self._writing = False
        values["id"] = row_id = ids.pop()
        self.rows[table].append(values)
        if table is LEDGER:
            self._ledger[row_id] = values
        return row_id

    def _reserve(self, table: Table) -> list[int]:
        """Free ids for the table, the next one last; the connection learns of the buffer (see below)."""
        connection = self.session.connection()
        connection.info[BUFFER_KEY] = self
        if connection.dialect.name == "postgresql":
            found = connection.execute(
                text("SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, 100)"),
                {"t": table.name},
            )
            return sorted((int(n) for (n,) in found), reverse=True)
        top = int(connection.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one())
        highest = max([top, *(r["id"] for r in self.rows[table])])
        return list(range(highest + 100, highest, -1))

    def detach(self) -> None:
        """The transaction ends: its connection goes back to the pool without the buffer."""
        if self.session.in_transaction():
            self.session.connection().info.pop(BUFFER_KEY, None)

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
            if table is LEDGER:
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


def flush_before_statement(state: ORMExecuteState) -> None:
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


def flush_before_core_statement(conn: Connection, clauseelement: Executable, *_: object) -> None:
    """Every statement on a connection whose transaction holds rows back writes them first (the rule)."""
    buffer = conn.info.get(BUFFER_KEY)
    if buffer is not None and not isinstance(clauseelement, _TRANSACTION_CONTROL):
        buffer.flush(writing=not getattr(clauseelement, "is_select", False))


def flush_before_unit_of_work(session: Session, *_: object) -> None:
    tx = session.info.get("tx")
    if tx is not None and tx.buffer is not None:
        tx.buffer.flush(writing=True)


class TxBase:
    """One transaction's session and buffer, with the read-through caches its repositories share."""

    def __init__(self, session: Session, *, buffered: bool = False, fold_subaddress: bool = True) -> None:
        self.session = session
        self.fold_subaddress = fold_subaddress
        self.buffer = Buffer(session) if buffered else None
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

    def _count_change(self, event_id: str, old: Status | None, new: Status | None, position: int = 0) -> None:
        """Keep the cached counts exact after a registration changed status in this transaction."""
        counts = self._counts.get(event_id)
        if counts is not None:
            self._counts[event_id] = booking.counts_after(counts, old, new, position)

    def _upsert(self, model: type[Base], key: dict[str, Any], values: dict[str, Any]) -> None:
        """INSERT ... ON CONFLICT DO UPDATE, in the dialect's own syntax."""
        dialect = self.session.get_bind().dialect.name
        insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
        statement = insert(model).values(**key, **values)
        self.session.execute(statement.on_conflict_do_update(index_elements=list(key), set_=values))

    def flush(self) -> None:
        """Write the held-back inserts of a buffered transaction now."""
        if self.buffer is not None:
            self.buffer.flush(writing=True)

    def _insert(self, model: type[Base], **values: Any) -> int:
        """A plain INSERT (no unit of work: a hot path of every registration); returns the new id."""
        self.session.flush()  # ORM changes first, in their order
        if self.buffer is not None:
            return self.buffer.add(table_of(model), values)
        result = self.session.connection().execute(
            insert(table_of(model)), values
        )  # one compiled form, cached
        key = result.inserted_primary_key
        assert key is not None
        return int(key[0])

    def person(self, email_normalized: str) -> str:
        """Who an address is for duplicates: the address, or without its +tag (`[bot] fold_subaddress`)."""
        return subaddress.fold(email_normalized) if self.fold_subaddress else email_normalized

    def _person_column(self) -> InstrumentedAttribute[str | None]:
        """The column `person` values are compared with."""
        return RegistrationRow.email_folded if self.fold_subaddress else RegistrationRow.email_normalized
