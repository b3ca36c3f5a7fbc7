"""Smoke tests: the real-server fixtures start, accept logins and behave as the product relies on."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from email.message import EmailMessage

import aiosmtplib
import sqlalchemy as sa

from mailbot.demo.servers import SmtpSink
from tests.servers import Dovecot, ImapAccount

RAW = (
    b"From: Erika Mustermann <erika@example.org>\r\n"
    b"To: anmeldung@example.org\r\n"
    b"Subject: Anmeldung\r\n"
    b"Date: Mon, 01 Jan 2024 08:00:00 +0000\r\n"
    b"Message-ID: <smoke-1@example.org>\r\n"
    b"\r\n"
    b"Ich melde mich an.\r\n"
)


def test_append_keeps_internaldate_and_peek_leaves_unseen(
    dovecot_server: Dovecot, imap_account: ImapAccount
) -> None:
    """APPEND with an INTERNALDATE is fetched back unchanged, and BODY.PEEK[] does not set \\Seen."""
    arrived = datetime(2024, 3, 5, 9, 30, 15, tzinfo=timezone(timedelta(hours=1)))
    dovecot_server.append(imap_account.user, RAW, internaldate=arrived)

    client = dovecot_server.client(imap_account.user)
    client.normalise_times = False  # keep the server's zone: compare aware datetimes
    try:
        client.select_folder("INBOX")
        (uid,) = client.search("ALL")
        data = client.fetch([uid], ["BODY.PEEK[]", "INTERNALDATE"])[uid]
        assert data[b"BODY[]"] == RAW
        assert data[b"INTERNALDATE"] == arrived
        flags = client.get_flags([uid])[uid]
        assert b"\\Seen" not in flags
    finally:
        client.logout()


def test_custom_keyword_can_be_stored(dovecot_server: Dovecot, imap_account: ImapAccount) -> None:
    """A custom keyword ($Something) set with STORE sticks, unlike with pymap's dict backend."""
    dovecot_server.append(imap_account.user, RAW)
    client = dovecot_server.client(imap_account.user)
    try:
        client.select_folder("INBOX")
        (uid,) = client.search("ALL")
        client.add_flags([uid], [b"$MailbotDone"])
        assert b"$MailbotDone" in client.get_flags([uid])[uid]
    finally:
        client.logout()


def test_append_many_keeps_order_and_dates(dovecot_server: Dovecot, imap_account: ImapAccount) -> None:
    """MULTIAPPEND stores messages in the given order (ascending UIDs) with their INTERNALDATEs."""
    base = datetime(2024, 1, 1, tzinfo=UTC)
    items = [(RAW.replace(b"smoke-1", b"smoke-%d" % i), base + timedelta(minutes=i)) for i in range(20)]
    dovecot_server.append_many(imap_account.user, items)

    client = dovecot_server.client(imap_account.user)
    client.normalise_times = False
    try:
        client.select_folder("INBOX", readonly=True)
        fetched = client.fetch(client.search("ALL"), ["INTERNALDATE"])
        dates = [fetched[uid][b"INTERNALDATE"] for uid in sorted(fetched)]
        assert dates == [date for _, date in items]
    finally:
        client.logout()


def test_fresh_imap_accounts_are_empty(dovecot_server: Dovecot, imap_account: ImapAccount) -> None:
    """Each imap_account is its own empty mailbox, so tests never see each other's mail."""
    client = dovecot_server.client(imap_account.user)
    try:
        assert client.select_folder("INBOX")[b"EXISTS"] == 0
    finally:
        client.logout()


def test_pg_url_runs_select_1(pg_url: str) -> None:
    """SQLAlchemy connects to the private PostgreSQL with the psycopg 3 driver."""
    engine = sa.create_engine(pg_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT 1")).scalar_one() == 1
    finally:
        engine.dispose()


def test_db_url_is_a_writable_empty_database(db_url: str) -> None:
    """db_url gives an empty database on each backend that accepts a table and a row."""
    engine = sa.create_engine(db_url)
    try:
        with engine.begin() as conn:
            assert sa.inspect(conn).get_table_names() == []
            conn.execute(sa.text("CREATE TABLE probe (id INTEGER PRIMARY KEY)"))
            conn.execute(sa.text("INSERT INTO probe (id) VALUES (1)"))
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM probe")).scalar_one() == 1
    finally:
        engine.dispose()


def test_smtp_sink_receives_what_aiosmtplib_sends(smtp_sink: SmtpSink) -> None:
    """A message sent with aiosmtplib arrives in the sink with its envelope and headers."""
    msg = EmailMessage()
    msg["From"] = "bot@example.org"
    msg["To"] = "erika@example.org"
    msg["Subject"] = "Bestätigung"
    msg.set_content("Sie sind angemeldet.")

    asyncio.run(aiosmtplib.send(msg, hostname=smtp_sink.host, port=smtp_sink.port))

    (received,) = smtp_sink.messages
    assert received.mail_from == "bot@example.org"
    assert received.rcpt_tos == ("erika@example.org",)
    assert received.message()["Subject"] == "Bestätigung"
