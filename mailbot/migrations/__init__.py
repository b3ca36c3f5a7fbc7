"""Alembic migrations of mailbot's schema (script_location "mailbot:migrations")."""
