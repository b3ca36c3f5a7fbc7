"""Shared pytest fixtures: real servers (Dovecot, PostgreSQL, an SMTP sink) and database URLs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailbot.adapters.embedded import SmtpSink
from tests.servers import Dovecot, ImapAccount, Postgres, find_dovecot, find_pg_bin


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1"}


def _missing_server(what: str) -> None:
    """Skip locally, but fail in CI: a server missing there is a broken setup, never a silent skip."""
    message = f"{what} is not installed; `bash scripts/test` installs it (as root on Debian)"
    if _in_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


# --- real servers ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def dovecot_server() -> Iterator[Dovecot]:
    """A private Dovecot on a loopback port for the whole session; any user name logs in."""
    if find_dovecot() is None:
        _missing_server("Dovecot (dovecot-imapd)")
    with Dovecot() as server:
        yield server


@pytest.fixture
def imap_account(dovecot_server: Dovecot) -> ImapAccount:
    """Access data for a fresh, empty mailbox on the session's Dovecot (a new user per test)."""
    return dovecot_server.account()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Postgres]:
    """A private PostgreSQL cluster on a loopback port for the whole session."""
    if find_pg_bin() is None:
        _missing_server("PostgreSQL (postgresql)")
    with Postgres() as server:
        yield server


@pytest.fixture
def pg_url(postgres_server: Postgres) -> str:
    """The SQLAlchemy URL of a fresh, empty PostgreSQL database for this test."""
    return postgres_server.create_database()


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """An aiosmtpd sink on a free loopback port that keeps every message it accepts."""
    with SmtpSink() as sink:
        yield sink


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database URL, once per backend: integration tests run on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'mailbot.db'}"
    # Looked up lazily so the SQLite runs never need (or start) PostgreSQL.
    url: str = request.getfixturevalue("pg_url")
    return url
