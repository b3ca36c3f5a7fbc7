"""Shared pytest fixtures: real servers (Dovecot, PostgreSQL, an SMTP sink) and database URLs."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailbot.demo.servers import SmtpSink
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
def pg_url(postgres_server: Postgres) -> Iterator[str]:
    """The SQLAlchemy URL of a fresh, empty PostgreSQL database for this test (dropped after it)."""
    url = postgres_server.create_database()
    yield url
    postgres_server.drop_database(url.rsplit("/", 1)[1])


@pytest.fixture(scope="session")
def soffice() -> str:
    """LibreOffice's `soffice` program, to open the exports as a German spreadsheet user would."""
    found = shutil.which("soffice") or shutil.which("/usr/lib/libreoffice/program/soffice")
    if found is None:
        _missing_server("LibreOffice (libreoffice-calc-nogui)")
    assert found is not None
    return found


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


# --- the bot wired to those servers ----------------------------------------------------------------------

EVENT = {
    "id": "digitalisierung-2020",
    "title": "Digitalisierung in Castrop-Rauxel",
    "keyword": "Digitalisierung 08.10.",
    "capacity": 75,
    "starts_at": "2020-10-08T18:00:00+02:00",
    "ends_at": "2020-10-08T20:30:00+02:00",
    # The 2020 event is long past: keep its data in tests (test_privacy.py sets the real default back).
    "delete_after_days": 36500,
}
SENDER = "Stadt Castrop-Rauxel <digitalisierung@castrop-rauxel.de>"


def config_data(account: ImapAccount, sink: SmtpSink, url: str, **bot: object) -> dict[str, object]:
    """A config (as the TOML tables) pointing at the test servers."""
    return {
        "imap": {
            "host": account.host,
            "port": account.port,
            "security": "none",
            "username": account.user,
            "password": account.password,
        },
        "smtp": {"host": sink.host, "port": sink.port, "security": "none", "sender": SENDER},
        "database": {"url": url},
        "bot": {"poll_interval": 1, **bot},
        "events": [dict(EVENT)],
    }


def toml_text(data: dict[str, object]) -> str:
    """Render config_data() as TOML (tables of scalars and one array of event tables)."""

    def value(v: object) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float):
            return str(v)
        return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines: list[str] = []
    for table, content in data.items():
        items = content if isinstance(content, list) else [content]
        for item in items:
            lines.append(f"[[{table}]]" if isinstance(content, list) else f"[{table}]")
            assert isinstance(item, dict)
            lines += [f"{k} = {value(v)}" for k, v in item.items()]
            lines.append("")
    return "\n".join(lines)


@pytest.fixture
def config_file(tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink, db_url: str) -> Path:
    """A config.toml in a temp dir for the test's mailbox, SMTP sink and database."""
    path = tmp_path / "config.toml"
    path.write_text(toml_text(config_data(imap_account, smtp_sink, db_url)), encoding="utf-8")
    return path
