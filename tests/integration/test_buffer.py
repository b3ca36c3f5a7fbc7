"""The held-back-insert buffer's rule: no statement runs before the rows held back are written."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from mailbot.adapters.db import Database, RegistrationRow, Tx
from mailbot.adapters.db.migrate import migrate
from mailbot.core.model import Event, Status

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
EVENT = Event(id="ev", title="Event", keyword="Event 1.4.", capacity=5, starts_at=NOW + timedelta(days=30))


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    """A migrated database with one event."""
    database = Database(db_url)
    migrate(database)
    with database.transaction() as tx:
        tx.sync_events([EVENT])
    yield database
    database.dispose()


def register(tx: Tx, email: str, position: int) -> int:
    """One registration (held back in a buffered transaction)."""
    return tx.add_registration(
        event_id="ev",
        position=position,
        status=Status.CONFIRMED,
        name="",
        email=email,
        email_normalized=email,
        channel="email",
        received_at=NOW,
        ledger_id=None,
        message_id=None,
        now=NOW,
        actor="mail",
    )


def register_count_and_fail(tx: Tx, seen: list[int]) -> None:
    """In a savepoint: register b, count the registrations with a raw statement, then fail."""
    with tx.savepoint():
        register(tx, "b@example.org", 2)
        seen.append(tx.session.connection().execute(text("SELECT count(*) FROM registrations")).scalar_one())
        raise RuntimeError


def test_a_core_statement_on_the_connection_sees_the_held_back_rows(db: Database) -> None:
    """A plain Core statement (not through the ORM session) writes the buffer first, so it sees every row."""
    with db.transaction(buffered=True) as tx:
        register(tx, "a@example.org", 1)
        assert tx.buffer is not None
        assert len(tx.buffer.rows[RegistrationRow.__table__]) == 1  # held back, not written yet
        connection = tx.session.connection()
        count = connection.execute(select(func.count()).select_from(RegistrationRow.__table__)).scalar_one()
        assert count == 1
        raw = connection.execute(text("SELECT count(*) FROM registrations")).scalar_one()
        assert raw == 1


def test_a_read_inside_a_savepoint_sees_its_rows_and_a_rollback_drops_them(db: Database) -> None:
    """Inside a savepoint a read sees the savepoint's own held-back rows; rolled back, they are gone."""
    with db.transaction(buffered=True) as tx:
        register(tx, "a@example.org", 1)
        seen: list[int] = []
        with pytest.raises(RuntimeError):
            register_count_and_fail(tx, seen)
        assert seen == [2]
        assert [r.email for r in tx.registrations("ev")] == ["a@example.org"]
    with db.transaction() as tx:
        assert [r.email for r in tx.registrations("ev")] == ["a@example.org"]


def test_the_connection_forgets_the_buffer_when_the_transaction_ends(db: Database) -> None:
    """A pooled connection does not carry a finished transaction's buffer into the next one."""
    with db.transaction(buffered=True) as tx:
        register(tx, "a@example.org", 1)
    with db.transaction() as tx:
        assert "mailbot.buffer" not in tx.session.connection().info
        assert len(tx.registrations("ev")) == 1


def test_a_savepoint_ends_with_rows_still_held_back(db: Database) -> None:
    """A savepoint whose SAVEPOINT is open and that holds rows back is released cleanly; the rows commit."""
    with db.transaction(buffered=True) as tx, tx.savepoint():
        register(tx, "a@example.org", 1)
        assert tx.last_received("ev") == NOW  # a read: the SAVEPOINT opens and a's row is written
        register(tx, "b@example.org", 2)  # held back when the savepoint is released
    with db.transaction() as tx:
        assert [r.email for r in tx.registrations("ev")] == ["a@example.org", "b@example.org"]
