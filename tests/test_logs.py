"""Log lines (logs.py, redact.py): one format for all loggers, the zone in the time, no address, no SQL."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, insert
from sqlalchemy.exc import IntegrityError

from mailbot.adapters.db import make_engine
from mailbot.logs import LineFormatter, configure_logging, set_zone
from mailbot.redact import describe_error, hide_sql, mask_addresses

BERLIN = ZoneInfo("Europe/Berlin")


def record(
    message: str, *args: object, name: str = "mailbot", exc: pytest.ExceptionInfo[BaseException] | None = None
) -> logging.LogRecord:
    """A log record as a logger would make it (with a caught exception's traceback when `exc`)."""
    exc_info = (exc.type, exc.value, exc.tb) if exc is not None else None
    return logging.getLogger(name).makeRecord(name, logging.WARNING, __file__, 1, message, args, exc_info)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Put the root and mailbot loggers back as they were after a test that configures logging."""
    root, ours = logging.getLogger(), logging.getLogger("mailbot")
    saved = (root.handlers[:], root.level, ours.handlers[:], ours.level, ours.propagate)
    yield
    root.handlers[:], ours.handlers[:] = saved[0], saved[2]
    root.setLevel(saved[1])
    ours.setLevel(saved[3])
    ours.propagate = saved[4]


def test_log_time_is_iso_8601_with_the_offset_of_the_desks_zone() -> None:
    """The time reads as `status` shows times: local time of [bot] timezone with its UTC offset (DST too)."""
    formatter = LineFormatter(BERLIN)
    summer = record("pass: 1 messages")
    summer.created = datetime(2020, 10, 8, 16, 0, 5, 123000, tzinfo=UTC).timestamp()
    winter = record("pass: 1 messages")
    winter.created = datetime(2020, 12, 8, 16, 0, 5, tzinfo=UTC).timestamp()
    assert formatter.format(summer) == "2020-10-08T18:00:05.123+02:00 WARNING pass: 1 messages"
    assert formatter.format(winter).startswith("2020-12-08T17:00:05.000+01:00 WARNING ")
    matched = datetime.fromisoformat(formatter.format(summer).split()[0])
    assert matched == datetime(2020, 10, 8, 16, 0, 5, 123000, tzinfo=UTC)  # the same moment, unambiguous


def test_before_the_config_is_read_the_time_still_carries_an_offset() -> None:
    """Without a zone yet the machine's local time is written, with its offset (never a bare time)."""
    line = LineFormatter().format(record("starting"))
    moment = datetime.fromisoformat(line.split()[0])
    assert moment.utcoffset() is not None
    assert abs(moment.timestamp() - time.time()) < 60


def test_every_address_in_a_record_is_masked_message_arguments_and_traceback() -> None:
    """SMTP refusals and DSN diagnostics quoting an address reach the log masked, tracebacks included."""
    formatter = LineFormatter(BERLIN)
    refusal = record("reply %s refused: %s", 7, "550 5.1.1 <name.surname@example.org>: Recipient rejected")
    line = formatter.format(refusal)
    assert line.endswith("reply 7 refused: 550 5.1.1 <n***@example.org>: Recipient rejected")
    with pytest.raises(ValueError, match="bounce for") as caught:
        raise ValueError("bounce for 'anna@example.org' via MAILER-DAEMON@mx.example.org")
    text = formatter.format(record("failure", exc=caught))
    assert "Traceback" in text
    assert "anna@" not in text
    assert "MAILER-DAEMON@" not in text
    assert "'a***@example.org' via M***@mx.example.org" in text


def test_a_mails_text_cannot_forge_a_log_line() -> None:
    """A line break inside a logged value (a subject, a library's text) stays inside its one line."""
    line = LineFormatter(BERLIN).format(record("subject %r", "x\n2020-10-08T18:00:00+02:00 INFO forged"))
    assert "\n" not in line


@pytest.mark.usefixtures("restore_logging")
def test_library_lines_go_through_the_same_format_and_only_from_warning(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """APScheduler, psycopg, SQLAlchemy lines are formatted and masked like ours, named, WARNING and up."""
    configure_logging(verbose=False)
    set_zone(BERLIN)
    logging.getLogger("apscheduler.scheduler").info("Added job %s", "pass")  # below WARNING: not shown
    logging.getLogger("apscheduler.scheduler").warning("Run time of job %s was missed", "pass")
    logging.getLogger("psycopg.pool").error("connection for anna@example.org lost")
    logging.getLogger("mailbot.service").info("uid 1 from %s: registered", "b***@example.org")
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(" ", 2)[1:] for line in lines] == [
        ["WARNING", "apscheduler.scheduler: Run time of job pass was missed"],
        ["ERROR", "psycopg.pool: connection for a***@example.org lost"],
        ["INFO", "uid 1 from b***@example.org: registered"],
    ]
    for line in lines:
        assert datetime.fromisoformat(line.split()[0]).utcoffset() is not None


@pytest.mark.usefixtures("restore_logging")
def test_configuring_twice_keeps_one_handler(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Each CLI start configures logging: a second call replaces mailbot's handler, lines are not doubled."""
    configure_logging(verbose=False)
    configure_logging(verbose=True)
    logging.getLogger("mailbot").debug("once")
    assert capsys.readouterr().err.count("once") == 1


def _duplicate_error(url: str) -> pytest.ExceptionInfo[IntegrityError]:
    """A real unique violation whose statement and parameters name a person."""
    engine = make_engine(url)
    table = Table(
        "people",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("email", String(320), unique=True),
    )
    try:
        table.metadata.drop_all(engine)
        table.metadata.create_all(engine)
        with engine.begin() as conn:
            conn.execute(insert(table).values(email="anna.secret@example.org"))
        with pytest.raises(IntegrityError) as caught, engine.begin() as conn:
            conn.execute(insert(table).values(email="anna.secret@example.org"))
        return caught
    finally:
        table.metadata.drop_all(engine)
        engine.dispose()


def test_database_errors_are_told_without_sql_or_parameters(db_url: str) -> None:
    """An SQLAlchemy error (SQLite, PostgreSQL) is described and logged without statement or values."""
    caught = _duplicate_error(db_url)
    error = caught.value
    assert "INSERT" in str(error) or "anna" in str(error)  # what SQLAlchemy itself would print
    line = describe_error(error)
    assert line.startswith("IntegrityError: ")
    assert "\n" not in line
    for leak in ("INSERT", "people (", "anna", "[SQL", "parameters"):
        assert leak not in line
    logged = LineFormatter(BERLIN).format(record("pass failed", exc=caught))
    assert "Traceback" in logged
    for leak in ("INSERT INTO", "anna.secret"):
        assert leak not in logged


def test_an_error_that_quotes_sqlalchemys_text_is_cut_before_the_sql() -> None:
    """An error wrapping SQLAlchemy's message (our own, a library's) loses the statement too."""
    wrapped = RuntimeError("(sqlite3.OperationalError) no such table: events\n[SQL: SELECT name FROM events]")
    assert (
        describe_error(wrapped)
        == "RuntimeError: (sqlite3.OperationalError) no such table: events [SQL hidden]"
    )


@pytest.mark.parametrize(
    "text",
    [
        "x" * 1_000_000 + " @",
        " " * 1_000_000 + "@",
        "@" * 1_000_000,
        "a@" * 500_000,
        "[SQL: " * 200_000,
        "DETAIL:" + "a" * 1_000_000,
    ],
    ids=["long-word", "spaces", "ats", "pairs", "sql-openers", "detail"],
)
def test_masking_and_hiding_are_linear_on_adversarial_text(text: str) -> None:
    """1 MB of adversarial text is masked and cleaned in well under a second (linear: ~50 ms)."""
    started = time.monotonic()
    mask_addresses(hide_sql(text))
    describe_error(ValueError(text))
    assert time.monotonic() - started < 1.5
