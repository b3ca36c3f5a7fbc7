"""A fault of the database is not the mail's fault: the pass ends, nothing is quarantined, the next pass
decides the same mails in their arrival order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, text

from mailbot.bootstrap import build_desk
from mailbot.config import load_config
from mailbot.demo.servers import SmtpSink
from mailbot.service.watchdog import Watchdog
from tests.conftest import config_data, toml_text
from tests.integration.test_desk import invoke
from tests.integration.test_intents import mail, statuses
from tests.integration.test_outages import query
from tests.servers import Dovecot, ImapAccount

T0 = datetime(2020, 9, 21, 8, 0, tzinfo=UTC)
KEYWORD = "Digitalisierung 08.10."
DISK_FULL = """
CREATE FUNCTION disk_full() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'could not extend file: No space left on device' USING ERRCODE = '53100'; END $$
"""


def future_config(tmp_path: Path, account: ImapAccount, sink: SmtpSink, url: str, capacity: int) -> Path:
    """A config for the test's servers: the event in 2099 with `capacity` seats."""
    data = config_data(account, sink, url)
    events = data["events"]
    assert isinstance(events, list)
    events[0].update(
        starts_at="2099-10-08T18:00:00+02:00", ends_at="2099-10-08T20:30:00+02:00", capacity=capacity
    )
    path = tmp_path / "config.toml"
    path.write_text(toml_text(data), encoding="utf-8")
    return path


def execute(url: str, *statements: str) -> None:
    """Run DDL as the database's owner, committed."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.execute(text(statement))
    finally:
        engine.dispose()


def outcomes(url: str) -> dict[str, int]:
    """The ledger's verdicts and how many of each."""
    return {
        str(o): int(str(n)) for o, n in query(url, "SELECT outcome, count(*) FROM ledger GROUP BY outcome")
    }


def registrations(url: str) -> list[tuple[object, ...]]:
    """(address, status) of the registrations in position order, and whether received_at rises with it."""
    return query(url, "SELECT email, status FROM registrations ORDER BY position")


def received_in_order(url: str) -> bool:
    """The registrations' received_at never goes back in position order (arrival order kept)."""
    times = [row[0] for row in query(url, "SELECT received_at FROM registrations ORDER BY position")]
    return times == sorted(times)  # type: ignore[type-var]


def test_postgresql_disk_full_for_a_pass_quarantines_nothing_and_the_next_pass_decides_in_order(
    dovecot_server: Dovecot, imap_account: ImapAccount, smtp_sink: SmtpSink, pg_url: str, tmp_path: Path
) -> None:
    """SQLSTATE 53100 on UPDATE (inside a mail's savepoint), on INSERT (the batch's held-back rows), at
    COMMIT: each pass ends with one line, ledgers nothing; after recovery every mail is decided in order."""
    config = future_config(tmp_path, imap_account, smtp_sink, pg_url, capacity=3)
    dovecot_server.append_many(
        imap_account.user, [(mail(i, KEYWORD), T0 + timedelta(minutes=i)) for i in (1, 2, 3)]
    )
    code, _, err = invoke(config, "run", "--once")
    assert code == 0, err
    # person 2 cancels by answering our confirmation (proof of the address: the seat is freed at once)
    ours = next(
        str(m.message()["Message-ID"]) for m in smtp_sink.messages if m.rcpt_tos[0] == "person2@example.org"
    )
    dovecot_server.append_many(
        imap_account.user,
        [(mail(2, f"Abmeldung {KEYWORD}", mid="cancel-2", in_reply_to=ours), T0 + timedelta(minutes=10))]
        + [(mail(i, KEYWORD), T0 + timedelta(minutes=10 + i)) for i in (4, 5, 6, 7)],
    )
    execute(pg_url, DISK_FULL)
    for when in ("UPDATE", "INSERT", "COMMIT"):
        trigger = (
            "CREATE CONSTRAINT TRIGGER disk_full AFTER INSERT ON registrations DEFERRABLE INITIALLY DEFERRED"
            if when == "COMMIT"
            else f"CREATE TRIGGER disk_full BEFORE {when} ON registrations"
        )
        execute(
            pg_url,
            "DROP TRIGGER IF EXISTS disk_full ON registrations",
            f"{trigger} FOR EACH ROW EXECUTE FUNCTION disk_full()",
        )
        code, out, err = invoke(config, "run", "--once")
        assert code == 1, out
        lines = [line for line in err.splitlines() if line.startswith("mailbot: ")]
        assert lines == [
            "mailbot: database: SQLSTATE 53100: could not extend file: No space left on device: "
            + (
                "mail uid 4 is not decided"
                if when == "UPDATE"
                else "the batch from mail uid 4 on is not decided"
            )
            + ", the next pass tries it again"
        ], err
        assert "Traceback" not in err
        assert outcomes(pg_url) == {"registered": 3}  # nothing of the failed pass, nothing quarantined
        assert len(smtp_sink.messages) == 3

    execute(pg_url, "DROP TRIGGER disk_full ON registrations")
    code, _, err = invoke(config, "run", "--once")
    assert code == 0, err
    assert outcomes(pg_url) == {"registered": 7, "cancelled": 1}
    assert registrations(pg_url) == [
        ("person1@example.org", "confirmed"),
        ("person2@example.org", "cancelled"),
        ("person3@example.org", "confirmed"),
        ("person4@example.org", "confirmed"),  # the seat person 2 gave back, in arrival order
        ("person5@example.org", "waitlisted"),
        ("person6@example.org", "waitlisted"),
        ("person7@example.org", "waitlisted"),
    ]
    assert received_in_order(pg_url)
    assert [s for _, s in statuses(smtp_sink, 3)] == ["cancelled", "confirmed", *["waitlisted"] * 3]


def test_sqlite_database_full_for_a_pass_quarantines_nothing_and_the_next_pass_decides_in_order(
    dovecot_server: Dovecot, imap_account: ImapAccount, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    """SQLite's 'database or disk is full' (max_page_count at the file's size) fails the pass, ledgers
    nothing; once there is room the next pass decides every mail, in arrival order."""
    url = f"sqlite:///{tmp_path / 'mailbot.db'}"
    desk = build_desk(load_config(future_config(tmp_path, imap_account, smtp_sink, url, capacity=2)))
    watchdog = Watchdog(desk)
    dovecot_server.append_many(imap_account.user, [(mail(1, KEYWORD), T0)])
    assert not watchdog.run_pass().failed
    dovecot_server.append_many(
        imap_account.user,
        [(mail(i, KEYWORD, body="x" * 3000), T0 + timedelta(minutes=i)) for i in range(2, 6)],
    )

    def full(dbapi_connection: Any, _record: Any) -> None:
        pages = dbapi_connection.execute("PRAGMA page_count").fetchone()[0]
        dbapi_connection.execute(f"PRAGMA max_page_count = {pages}")

    event.listen(desk.db.engine, "connect", full)
    desk.db.engine.dispose()
    failed = watchdog.run_pass()
    assert "database or disk is full" in failed.error, failed.error
    assert "\n" not in failed.error
    assert outcomes(url) == {"registered": 1}

    event.remove(desk.db.engine, "connect", full)
    desk.db.engine.dispose()
    recovered = watchdog.run_pass()
    assert not recovered.error, recovered.error
    assert outcomes(url) == {"registered": 5}
    assert [row[0] for row in registrations(url)] == [f"person{i}@example.org" for i in range(1, 6)]
    assert [row[1] for row in registrations(url)] == ["confirmed"] * 2 + ["waitlisted"] * 3
    assert received_in_order(url)


def test_postgresql_connection_lost_mid_batch_quarantines_nothing_and_the_next_pass_decides_in_order(
    dovecot_server: Dovecot, imap_account: ImapAccount, smtp_sink: SmtpSink, pg_url: str, tmp_path: Path
) -> None:
    """The database ends the pass's connection while a batch is written (pg_terminate_backend): the pass
    fails with one line, ledgers nothing; the next pass (a new connection) decides every mail in order."""
    config = future_config(tmp_path, imap_account, smtp_sink, pg_url, capacity=2)
    assert invoke(config, "db", "upgrade")[0] == 0
    execute(
        pg_url,
        "CREATE FUNCTION hang_up() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NEW; END $$",
        "CREATE TRIGGER hang_up BEFORE INSERT ON registrations FOR EACH ROW EXECUTE FUNCTION hang_up()",
    )
    dovecot_server.append_many(
        imap_account.user, [(mail(i, KEYWORD), T0 + timedelta(minutes=i)) for i in (1, 2, 3)]
    )
    code, out, err = invoke(config, "run", "--once")
    assert code == 1, out
    lines = [line for line in err.splitlines() if line.startswith("mailbot: ")]
    assert len(lines) == 1, err
    assert lines[0].startswith("mailbot: database"), lines
    assert lines[0].endswith("the batch from mail uid 1 on is not decided, the next pass tries it again"), (
        lines
    )
    assert "Traceback" not in err
    assert outcomes(pg_url) == {}

    execute(pg_url, "DROP TRIGGER hang_up ON registrations")
    code, _, err = invoke(config, "run", "--once")
    assert code == 0, err
    assert outcomes(pg_url) == {"registered": 3}
    assert [row[1] for row in registrations(pg_url)] == ["confirmed", "confirmed", "waitlisted"]
    assert [row[0] for row in registrations(pg_url)] == [f"person{i}@example.org" for i in (1, 2, 3)]
