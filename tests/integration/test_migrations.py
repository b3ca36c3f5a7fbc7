"""The Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from mailbot.adapters.db import Base, Database


def test_migrated_schema_matches_the_models(db_url: str) -> None:
    """After upgrading to head, autogenerate finds no difference between database and models."""
    db = Database(db_url)
    db.migrate()
    db.migrate()  # a second upgrade is a no-op
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    db.dispose()
    assert diff == []
