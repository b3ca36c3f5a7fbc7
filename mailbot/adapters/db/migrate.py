"""Alembic, configured in code (no alembic.ini): upgrade to head, one process at a time."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Engine

from mailbot.adapters.db.engine import Database
from mailbot.adapters.db.schema import SCHEMA_REVISION

_PG_MIGRATION_LOCK = 0x6D61696C  # "mail": advisory lock id serialising concurrent upgrades


def alembic_config(engine: Engine) -> Config:
    """An Alembic Config pointing at mailbot's migrations, bound to the engine."""
    cfg = Config()
    cfg.set_main_option("script_location", "mailbot:migrations")
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine) -> None:
    """Upgrade the schema to the newest revision."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
            conn.commit()
        try:
            cfg = alembic_config(engine)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
            conn.commit()
        finally:
            if engine.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_MIGRATION_LOCK})
                conn.commit()


def migrate(db: Database) -> None:
    """Bring `db`'s schema to the newest revision (safe with two processes starting at once).

    A schema already at SCHEMA_REVISION is left alone without asking Alembic. Alembic is imported by this
    module only, so the sending process, which never migrates, never loads it.
    """
    if db.schema_revision() == SCHEMA_REVISION:
        return
    upgrade(db.engine)
