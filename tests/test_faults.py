"""The classifier of faults: the environment's (retried by the next pass) or the mail's (quarantined)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import psycopg
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from mailbot.core.faults import environment_fault
from mailbot.core.parse import MessageParseError
from mailbot.demo.servers import free_port


def caught(action: Callable[[], object]) -> Exception:
    """The exception the callable raises."""
    try:
        action()
    except Exception as exc:  # noqa: BLE001 (any: the test wants the real thing to classify)
        return exc
    raise AssertionError("nothing raised")


def test_a_full_sqlite_database_is_the_environments_fault_also_inside_sqlalchemys_error(
    tmp_path: Path,
) -> None:
    """SQLITE_FULL (max_page_count reached) is the database's fault, raw and wrapped by SQLAlchemy."""
    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x BLOB)"))
    with engine.connect() as conn:
        pages = conn.execute(text("PRAGMA page_count")).scalar()
        conn.execute(text(f"PRAGMA max_page_count = {pages}"))
        wrapped = caught(lambda: conn.execute(text("INSERT INTO t VALUES (zeroblob(100000))")))
    engine.dispose()
    assert isinstance(wrapped, DBAPIError)
    assert environment_fault(wrapped) == "database: SQLITE_FULL: database or disk is full"
    assert environment_fault(wrapped.orig) == "database: SQLITE_FULL: database or disk is full"


def test_a_refused_postgresql_connection_is_the_environments_fault() -> None:
    """psycopg's OperationalError without SQLSTATE (nobody listens on the port) is the environment's."""
    port = free_port("127.0.0.1")
    exc = caught(lambda: psycopg.connect(host="127.0.0.1", port=port, connect_timeout=2))
    found = environment_fault(exc)
    assert found is not None
    assert found.startswith("database: OperationalError: ")


def test_os_errors_and_memory_are_the_environments_fault_also_as_a_cause() -> None:
    """An OSError (reset connection, full disk) or MemoryError, raised or as the cause of another error."""
    assert environment_fault(ConnectionResetError(104, "Connection reset by peer")) == (
        "ConnectionResetError: [Errno 104] Connection reset by peer"
    )
    assert environment_fault(MemoryError()) == "out of memory"

    def write() -> None:
        try:
            open("/", "wb").close()  # a real OSError: "/" is a directory
        except OSError as inner:
            raise RuntimeError("writing failed") from inner

    assert environment_fault(caught(write)) == "IsADirectoryError: [Errno 21] Is a directory: '/'"


def test_the_mails_own_faults_are_not_the_environments() -> None:
    """Parse errors, bad values, bugs and constraint violations are the mail's: None."""
    bug = caught(lambda: sqlite3.connect(":memory:").execute("SELECT 1 FROM t WHERE"))  # a syntax error
    constraint = sqlite3.connect(":memory:")
    constraint.execute("CREATE TABLE t (x UNIQUE)")
    constraint.execute("INSERT INTO t VALUES (1)")
    duplicate = caught(lambda: constraint.execute("INSERT INTO t VALUES (1)"))
    undecodable = caught(lambda: b"\xff".decode("utf-8"))
    for exc in (
        MessageParseError("no headers"),
        ValueError("bad date"),
        undecodable,
        KeyError("x"),
        bug,
        duplicate,
    ):
        assert environment_fault(exc) is None, exc
