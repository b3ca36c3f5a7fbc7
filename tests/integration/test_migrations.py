"""The Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from mailbot.adapters.db import SCHEMA_REVISION, Base, Database
from mailbot.adapters.db import migrate as migrations
from mailbot.adapters.db.migrate import migrate


def test_migrated_schema_matches_the_models(db_url: str) -> None:
    """After upgrading to head, autogenerate finds no difference between database and models."""
    db = Database(db_url)
    migrate(db)
    migrate(db)  # a second upgrade is a no-op
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    db.dispose()
    assert diff == []


def test_schema_revision_is_the_newest_migration() -> None:
    """SCHEMA_REVISION (which lets a current schema skip Alembic) names the head of the migration scripts."""
    script = ScriptDirectory.from_config(migrations.alembic_config(Database("sqlite://").engine))
    assert script.get_heads() == [SCHEMA_REVISION]


def test_a_schema_behind_is_upgraded_and_a_current_one_left_alone(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """migrate() brings an older schema to the newest revision; at the newest it does not run Alembic."""
    db = Database(db_url)
    migrate(db)
    with db.engine.connect() as conn:
        cfg = migrations.alembic_config(db.engine)
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0003")
        conn.commit()
    assert db.schema_revision() == "0003"
    migrate(db)
    assert db.schema_revision() == SCHEMA_REVISION
    with db.engine.connect() as conn:
        columns = {c["name"] for c in inspect(conn).get_columns("ledger")}
    assert "content_hash" in columns
    calls: list[object] = []
    monkeypatch.setattr(migrations, "upgrade", calls.append)
    migrate(db)
    assert calls == []
    db.dispose()


def test_upgrade_folds_the_addresses_of_existing_registrations(db_url: str) -> None:
    """Migration 0005 fills email_folded for registrations made before it: old sub-addresses count too."""
    db = Database(db_url)
    migrate(db)
    with db.engine.connect() as conn:
        cfg = migrations.alembic_config(db.engine)
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0004")
        conn.execute(
            text(
                "INSERT INTO events (id, title, keyword, capacity, starts_at) "
                "VALUES ('e', 'E', 'k', 1, '2099-01-01 00:00:00')"
            )
        )
        insert = text(
            "INSERT INTO registrations (event_id, position, status, name, email, email_normalized, channel,"
            " received_at, created_at)"
            " VALUES ('e', :position, 'confirmed', 'A', :email, :normalized, 'email', :when, :when)"
        )
        when = datetime(2020, 1, 1, tzinfo=UTC)
        conn.execute(
            insert,
            {"position": 1, "email": "Anna+Kurs@gmx.de", "normalized": "anna+kurs@gmx.de", "when": when},
        )
        conn.execute(insert, {"position": 2, "email": None, "normalized": None, "when": when})
        conn.commit()
    migrate(db)
    with db.engine.connect() as conn:
        query = text("SELECT email_folded FROM registrations ORDER BY position")
        folded = conn.execute(query).scalars().all()
    db.dispose()
    assert folded == ["anna@gmx.de", None]
