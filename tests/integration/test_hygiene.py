"""Logs, files and staff output on real servers: addresses masked in logs only, private files, zoned times."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from mailbot.adapters.db import SCHEMA_REVISION, Database
from mailbot.demo.servers import SmtpSink
from tests.conftest import config_data, toml_text
from tests.integration.test_desk import invoke
from tests.integration.test_intents import T0, dsn_for, mail
from tests.integration.test_privacy import query
from tests.servers import Dovecot, ImapAccount

EVENT = "digitalisierung-2020"
# A Postfix refusal quotes the recipient in full, as a bounce's Diagnostic-Code does.
REFUSAL = "550 5.1.1 <person1@example.org>: Recipient address rejected: User unknown in local recipient table"
_ISO = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d) ")


@pytest.fixture
def future_config(config_file: Path) -> Path:
    """The seed event moved to 2099 with 1 seat (staff may still cancel and promote)."""
    text = config_file.read_text()
    config_file.write_text(
        text.replace("2020-10-08T", "2099-10-08T").replace("capacity = 75", "capacity = 1")
    )
    return config_file


def test_smtp_refusal_and_bounce_diagnostic_are_masked_in_logs_and_ledger(
    dovecot_server: Dovecot, imap_account: ImapAccount, smtp_sink: SmtpSink, config_file: Path
) -> None:
    """A refusal or DSN quoting `<person@…>` reaches logs and stored reasons masked; triage names whom."""
    smtp_sink.refuse_recipient("person1@example.org", REFUSAL)
    dovecot_server.append_many(
        imap_account.user, [(mail(n, "Digitalisierung 08.10."), T0 + timedelta(minutes=n)) for n in (1, 2)]
    )
    code, out, err = run_cli(config_file, "-v", "run", "--once")  # a real process: the sender's logs too
    assert code == 0, err
    assert "replies sent 1" in out
    assert "p***@example.org>: Recipient address rejected" in err  # the refusal is logged, masked
    ours = str(smtp_sink.messages[0].message()["Message-ID"])
    diagnostic = "smtp; 550 5.1.1 <person2@example.org>: Recipient address rejected: mailbox full"
    dsn = dsn_for(ours, "person2@example.org").replace(b"smtp; 550 5.1.1 user unknown", diagnostic.encode())
    dovecot_server.append_many(imap_account.user, [(dsn, T0 + timedelta(minutes=9))])
    code, out, more = run_cli(config_file, "-v", "run", "--once")
    assert code == 0, more
    assert '"bounce": 1' in out
    logs = err + more
    assert "person1@" not in logs
    assert "person2@" not in logs
    url = str(query_url(config_file))
    stored = query(url, "SELECT last_error FROM outbox WHERE last_error IS NOT NULL")
    assert stored == [(REFUSAL.replace("<person1@", "<p***@"),)]
    reasons = " ".join(str(r[0]) for r in query(url, "SELECT reason FROM ledger"))
    assert "<p***@example.org>: Recipient address rejected: mailbox full" in reasons
    assert "person2@" not in reasons
    triage = invoke(config_file, "triage")[1]
    assert (
        "to person1@example.org (confirmed) failed: 550 5.1.1 <p***@example.org>" in triage
    )  # whom, in full


def run_cli(config: Path, *args: str) -> tuple[int, str, str]:
    """`python -m mailbot --config CONFIG ARGS` as its own process (with its sending process)."""
    done = subprocess.run(
        [sys.executable, "-m", "mailbot", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return done.returncode, done.stdout, done.stderr


def query_url(config: Path) -> str:
    """The database URL written in a test config."""
    found = re.search(r'^url = "(.*)"$', config.read_text(), re.MULTILINE)
    assert found is not None
    return found.group(1)


def test_cancel_shows_staff_the_promoted_persons_whole_address_or_phone(
    future_config: Path, smtp_sink: SmtpSink
) -> None:
    """`cancel` prints who moved up in full (name and address, or phone: call them); logs stay masked."""
    for name, contact in (
        ("Anna A", "anna@example.org"),
        ("Bernd B", None),
        ("Carla C", "carla@example.org"),
    ):
        args = ["--email", contact] if contact else ["--phone", "02305 1"]
        assert invoke(future_config, "add", EVENT, "--name", name, *args)[0] == 0
    code, out, err = invoke(future_config, "cancel", EVENT, "--email", "anna@example.org")
    assert code == 0, err
    assert out.splitlines() == [
        "cancelled arrival no. 1",
        f"{EVENT}: promoted position 2 (Bernd B, phone 02305 1: no mail, tell them by phone)",
    ]
    code, out, err = invoke(future_config, "cancel", EVENT, "--id", "2")
    assert code == 0, err
    assert out.splitlines() == [
        "cancelled arrival no. 2",
        f"{EVENT}: promoted position 3 (Carla C <carla@example.org>)",
    ]
    assert "carla@" not in err
    assert ("carla@example.org", "promoted") in [
        (m.rcpt_tos[0], str(m.message()["X-Mailbot-Status"])) for m in smtp_sink.messages
    ]


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The usual umask of a login shell (files 0644 unless created otherwise)."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.usefixtures("umask_022")
def test_sqlite_database_and_companion_files_are_private_whatever_the_umask(
    dovecot_server: Dovecot, imap_account: ImapAccount, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    """Database, -wal, -shm, .sent journal and .leader lock are created 0600 under umask 022."""
    database = tmp_path / "mailbot.db"
    config = tmp_path / "config.toml"
    config.write_text(
        toml_text(config_data(imap_account, smtp_sink, f"sqlite:///{database}")), encoding="utf-8"
    )
    dovecot_server.append_many(imap_account.user, [(mail(1, "Digitalisierung 08.10."), T0)])
    code, _, err = invoke(config, "run", "--once")  # the sending process writes the .sent journal
    assert code == 0, err
    db = Database(f"sqlite:///{database}")
    try:
        with db.transaction() as tx:  # an open connection in WAL mode: -wal and -shm exist now
            tx.set_state("probe", "1")
            files = {
                p.name: p.stat().st_mode & 0o777
                for p in tmp_path.iterdir()
                if p.name.startswith("mailbot.db")
            }
    finally:
        db.dispose()
    assert {"mailbot.db", "mailbot.db-wal", "mailbot.db-shm", "mailbot.db.sent", "mailbot.db.leader"} <= set(
        files
    )
    assert files == dict.fromkeys(files, 0o600)


@pytest.mark.usefixtures("umask_022")
def test_an_existing_world_readable_database_is_made_private(tmp_path: Path) -> None:
    """A database an older version left 0644 is tightened to 0600 at the next start, with a log line."""
    database = tmp_path / "old.db"
    sqlite3.connect(database).close()
    os.chmod(database, 0o644)
    Database(f"sqlite:///{database}").dispose()
    assert database.stat().st_mode & 0o777 == 0o600


def test_log_lines_carry_the_zone_status_shows(
    dovecot_server: Dovecot, imap_account: ImapAccount, config_file: Path
) -> None:
    """Every log line starts with ISO 8601 time and the offset of [bot] timezone, as `status` shows times."""
    dovecot_server.append_many(imap_account.user, [(mail(1, "Digitalisierung 08.10."), T0)])
    code, _, err = invoke(config_file, "-v", "run", "--once")
    assert code == 0, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines
    offset = datetime.now(ZoneInfo("Europe/Berlin")).utcoffset()
    for line in lines:
        found = _ISO.match(line)
        assert found is not None, line
        assert datetime.fromisoformat(found.group(1)).utcoffset() == offset
    status = invoke(config_file, "status")[1]
    last_poll = re.search(r"last successful poll: (\S+)", status)
    assert last_poll is not None, status
    assert datetime.fromisoformat(last_poll.group(1)).utcoffset() == offset


def test_a_database_error_is_one_line_without_sql_or_values(tmp_path: Path, smtp_sink: SmtpSink) -> None:
    """A broken database (schema marked current, tables gone) is reported by the driver's words only."""
    database = tmp_path / "broken.db"
    with sqlite3.connect(database) as conn:
        conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32))")
        conn.execute("INSERT INTO alembic_version VALUES (?)", (SCHEMA_REVISION,))
    conn.close()
    account = ImapAccount(host="127.0.0.1", port=1, user="desk", password="x")
    config = tmp_path / "config.toml"
    config.write_text(toml_text(config_data(account, smtp_sink, f"sqlite:///{database}")), encoding="utf-8")
    code, out, err = invoke(config, "status")
    assert code == 1
    assert err.splitlines()[-1] == "mailbot: OperationalError: no such table: events"
    for leak in ("[SQL", "INSERT", "SELECT", "parameters", "Digitalisierung in Castrop"):
        assert leak not in out + err
