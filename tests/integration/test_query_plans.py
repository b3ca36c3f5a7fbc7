"""The hot path's statements find their rows by primary key, whatever other indexes the outbox has."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql import ClauseElement

from mailbot.adapters.db import Database
from mailbot.adapters.db.migrate import migrate
from mailbot.adapters.db.outbox import MARK_REPLIED, MARK_SENT, MARK_SENT_PG
from mailbot.adapters.db.schema import OUTBOX

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
QUEUED = 500  # a rush's backlog: replies committed, not yet sent


def backlog(url: str) -> Database:
    """A migrated database whose outbox holds a backlog of unsent replies, never analysed (as in a rush)."""
    database = Database(url)
    migrate(database)
    rows = [
        {
            "kind": "confirmed",
            "envelope_from": "desk@example.org",
            "recipient": f"p{i}@example.org",
            "recipient_normalized": f"p{i}@example.org",
            "message_id": f"<{i}@desk.example.org>",
            "data": b"x" * 2000,
            "created_at": NOW,
            "attempts": 0,
            "next_attempt_at": NOW,
        }
        for i in range(QUEUED)
    ]
    with database.engine.begin() as connection:
        connection.execute(insert(OUTBOX), rows)
    return database


@pytest.fixture
def rush(db_url: str) -> Iterator[Database]:
    """A backlog on SQLite and on PostgreSQL."""
    database = backlog(db_url)
    yield database
    database.dispose()


@pytest.fixture
def pg_rush(pg_url: str) -> Iterator[Database]:
    """A backlog on PostgreSQL."""
    database = backlog(pg_url)
    yield database
    database.dispose()


def plan_of(connection: Connection, statement: ClauseElement, params: dict[str, Any]) -> list[str]:
    """How the database reads each table for `statement`: one line per scan node."""
    compiled = statement.compile(dialect=connection.dialect)
    stored_now = NOW.replace(tzinfo=None).isoformat(" ")  # as the column type stores it: UTC, naive
    params = {**compiled.params, **params, "b_now": stored_now}
    if connection.dialect.name == "sqlite":
        args = tuple(params[name] for name in compiled.positiontup or ())
        found = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + compiled.string, args).all()
        return [str(row[-1]) for row in found if str(row[-1]).startswith(("SCAN", "SEARCH"))]
    found = connection.exec_driver_sql("EXPLAIN (FORMAT JSON) " + compiled.string, params).scalar_one()
    tree = found if isinstance(found, list) else json.loads(found)
    scans: list[str] = []

    def walk(node: dict[str, Any]) -> None:
        if "Scan" in node["Node Type"]:
            scans.append(f"{node['Node Type']} {node['Relation Name']} {node.get('Index Name', '')}".strip())
        for child in node.get("Plans", []):
            walk(child)

    walk(tree[0]["Plan"])
    return scans


def assert_by_primary_key(scans: list[str], dialect: str) -> None:
    """Every table the plan reads, it reads through its primary key."""
    assert scans
    for scan in scans:
        if dialect == "sqlite":
            assert "INTEGER PRIMARY KEY" in scan, scans
        else:
            table = scan.split()[-2]
            assert scan.endswith(f"pk_{table}"), scans
            assert "Index" in scan, scans


@pytest.mark.parametrize("statement", [MARK_SENT, MARK_REPLIED], ids=["MARK_SENT", "MARK_REPLIED"])
def test_marking_a_reply_sent_is_a_primary_key_lookup_during_a_rush(
    rush: Database, statement: ClauseElement
) -> None:
    """Marking replies sent (a batch, a journal replay) reads each row by primary key, not the backlog."""
    with rush.engine.connect() as connection:
        scans = plan_of(connection, statement, {"b_id": QUEUED // 2, "b_now": NOW})
        assert_by_primary_key(scans, connection.dialect.name)


def test_postgresqls_one_statement_mark_sent_is_a_primary_key_lookup_during_a_rush(pg_rush: Database) -> None:
    """The sender's one-statement mark-sent on PostgreSQL reads outbox and registrations by primary key."""
    with pg_rush.engine.connect() as connection:
        scans = plan_of(connection, MARK_SENT_PG, {"b_id": QUEUED // 2, "b_now": NOW})
        assert_by_primary_key(scans, "postgresql")


def test_the_replies_queued_are_counted_on_an_index_without_reading_their_bodies(tmp_path: Path) -> None:
    """SQLite counts the queued replies (status, dashboard) on ix_outbox_unsent alone: no body is read."""
    database = backlog(f"sqlite:///{tmp_path / 'mailbot.db'}")
    count = select(func.count()).where(OUTBOX.c.sent_at.is_(None), OUTBOX.c.failed_at.is_(None))
    with database.engine.connect() as connection:
        counted = plan_of(connection, count, {})
    database.dispose()
    assert counted == ["SEARCH outbox USING COVERING INDEX ix_outbox_unsent (sent_at=? AND failed_at=?)"]
