"""Privacy (DSGVO) end to end: retention purge, forget one person, export one person, logs and file modes."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest
from sqlalchemy import MetaData, create_engine, select, text

from mailbot.bootstrap import addresses, open_database
from mailbot.cli import cli
from mailbot.cli.privacy import COMMANDS
from mailbot.config import load_config
from mailbot.demo.corpus import CorpusMail, build_corpus
from mailbot.demo.servers import SmtpSink
from mailbot.service.privacy import ERASED, purge_due
from tests.integration.test_desk import deliver, invoke, message_id, read_csv
from tests.integration.test_intents import mail, set_capacity, statuses
from tests.servers import Dovecot, ImapAccount

T0 = datetime(2020, 9, 21, 8, 0, tzinfo=UTC)
EVENT = "digitalisierung-2020"
PHONE = "02305 987654"


@pytest.fixture(autouse=True)
def default_retention(config_file: Path) -> None:
    """Privacy tests use the default retention of 30 days (other tests keep the 2020 event's data)."""
    config_file.write_text(
        config_file.read_text().replace("delete_after_days = 36500", "delete_after_days = 30")
    )


@pytest.fixture(autouse=True)
def privacy_commands() -> None:
    """The privacy commands on the CLI (until cli.py registers them itself; add_command is idempotent)."""
    for command in COMMANDS:
        cli.add_command(command)


def dump(url: str) -> str:
    """Every value of every table, as one lower-case text (a logical grep of the whole database)."""
    engine = create_engine(url)
    try:
        meta = MetaData()
        meta.reflect(engine)
        parts = []
        with engine.connect() as conn:
            for table in meta.sorted_tables:
                for row in conn.execute(select(table).order_by(*table.primary_key.columns)):
                    for value in row:
                        parts.append(
                            value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
                        )
        return "\n".join(parts).lower()
    finally:
        engine.dispose()


def database_files(url: str) -> bytes:
    """The bytes of the SQLite database with its WAL and shared-memory files (what lies on the disk)."""
    path = Path(url.removeprefix("sqlite:///"))
    files = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]
    return b"".join(f.read_bytes() for f in files if f.exists()).lower()


def query(url: str, sql: str) -> list[tuple[object, ...]]:
    """Rows of one SQL query on the test database."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql))]
    finally:
        engine.dispose()


def status_counts(url: str) -> dict[str, int]:
    """Registrations per status."""
    rows = query(url, "SELECT status, COUNT(*) FROM registrations GROUP BY status")
    return {str(status): int(str(n)) for status, n in rows}


def db_url_of(config: Path) -> str:
    """The database URL the config points at."""
    return load_config(config, {}).database.url


@pytest.fixture
def small_scenario() -> list[CorpusMail]:
    """12 registrations, 2 repeats, 3 unrelated mails and 2 robots, in varied real-world styles."""
    return build_corpus(registrations=12, repeats=2, unrelated=3, auto_replies=2)


@pytest.fixture
def booked_past_event(
    dovecot_server: Dovecot,
    imap_account: ImapAccount,
    smtp_sink: SmtpSink,
    config_file: Path,
    small_scenario: list[CorpusMail],
) -> Path:
    """The 2020 event (long past its 30 days) with 10 seats booked by mail, a waitlist and a phone booking."""
    set_capacity(config_file, 10)
    deliver(dovecot_server, imap_account, small_scenario)
    code, _, err = invoke(config_file, "run", "--once")
    assert code == 0, err
    code, _, err = invoke(config_file, "add", EVENT, "--name", "Hotline Hilde", "--phone", PHONE)
    assert code == 0, err
    assert len(smtp_sink.messages) == 14
    return config_file


def registrants(mails: list[CorpusMail]) -> list[CorpusMail]:
    """The keyword mails of a corpus (registrations and repeats)."""
    return [m for m in mails if m.kind in ("registration", "repeat")]


def test_purge_erases_a_past_event_everywhere_and_keeps_counts_and_identity(
    booked_past_event: Path, smtp_sink: SmtpSink, small_scenario: list[CorpusMail]
) -> None:
    """`purge` leaves no address, name, phone or Message-ID of the event's people; counts, identity stay."""
    config = booked_past_event
    url = db_url_of(config)
    people = registrants(small_scenario)
    before = dump(url)
    assert all(m.sender.lower() in before for m in people)
    counts = status_counts(url)
    assert counts == {"confirmed": 10, "waitlisted": 3}
    status_before = invoke(config, "status")[1]

    code, out, err = invoke(config, "purge")
    assert code == 0, err
    assert "compacting" not in err
    assert f"{EVENT} (due 2020-11-07 17:00): erased 13 registration(s)" in out
    assert "14 reply(ies)" in out

    after = dump(url)
    for person in people:
        assert person.sender.lower() not in after, person.sender
        assert message_id(person).lower() not in after
        if len(person.name) > 3:
            assert person.name.lower() not in after, person.name
    assert "hotline hilde" not in after
    assert PHONE not in after
    assert "***@" not in after  # masked addresses in the audit trail and the ledger's reasons too
    if url.startswith("sqlite"):
        on_disk = database_files(url)  # VACUUM and a WAL checkpoint: no old row image left in free pages
        assert not [m.sender for m in people if m.sender.lower().encode() in on_disk]
        assert PHONE.encode() not in on_disk

    # What each table kept: counts, positions, channels, times, the ledger identity, our own Message-IDs.
    assert status_counts(url) == counts
    assert invoke(config, "status")[1] == status_before
    registrations = query(url, "SELECT name, email, email_normalized, phone, message_id FROM registrations")
    assert set(registrations) == {(ERASED, None, None, None, None)}
    kept = "SELECT COUNT(*) FROM registrations WHERE received_at IS NULL OR channel = '' OR position < 1"
    assert query(url, kept) == [(0,)]
    replies = query(url, "SELECT recipient, recipient_normalized, sent_at FROM outbox")
    assert len(replies) == 14
    assert {(r[0], r[1]) for r in replies} == {(ERASED, "")}
    assert all(r[2] is not None for r in replies)
    assert query(url, "SELECT COUNT(*) FROM outbox WHERE LENGTH(data) > 0") == [(0,)]
    mails = query(url, "SELECT uid, sender, message_id, subject FROM ledger ORDER BY uid")
    erased_mails = [(uid, sender, mid) for uid, sender, mid, subject in mails if subject == ERASED]
    assert len(erased_mails) >= len(people)
    assert {(sender, mid) for _, sender, mid in erased_mails} == {(None, None)}
    assert query(url, "SELECT COUNT(*) FROM ledger")[0][0] == len(small_scenario)
    history = invoke(config, "history", EVENT)[1]
    assert history.count("erased: confirmed -> confirmed  by system (retention)") == 10
    assert "registered: - -> confirmed  by mail uid 1 from [gelöscht]" in history

    # The ledger identity stays: the mailbox is not processed again and nobody gets a second mail.
    code, out, err = invoke(config, "run", "--once")
    assert code == 0, err
    assert "processed 0 message(s)" in out
    assert len(smtp_sink.messages) == 14

    # A second purge finds nothing to do and changes nothing.
    settled = dump(url)
    code, out, err = invoke(config, "purge")
    assert code == 0, err
    assert "erased 0 registration(s), 0 ledger entry(ies), 0 reply(ies), 0 audit entry(ies)" in out
    assert "nothing to erase" in err
    assert dump(url) == settled


def test_purge_dry_run_changes_nothing(booked_past_event: Path) -> None:
    """`purge --dry-run` names what would be erased and leaves every table exactly as it was."""
    url = db_url_of(booked_past_event)
    before = dump(url)
    code, out, err = invoke(booked_past_event, "purge", "--dry-run")
    assert code == 0, err
    assert f"{EVENT} (due 2020-11-07 17:00): would erase 13 registration(s)" in out
    assert "dry run: nothing changed" in err
    assert dump(url) == before


def test_future_event_is_not_purged_unless_forced(
    dovecot_server: Dovecot, imap_account: ImapAccount, config_file: Path
) -> None:
    """An event before its erase date keeps its data; `--event ID --now` erases it at once, asking nothing."""
    config_file.write_text(config_file.read_text().replace("2020-10-08T", "2099-10-08T"))
    dovecot_server.append_many(
        imap_account.user, [(mail(i, "Digitalisierung 08.10."), T0 + timedelta(minutes=i)) for i in range(3)]
    )
    assert invoke(config_file, "run", "--once")[0] == 0
    url = db_url_of(config_file)
    before = dump(url)

    code, out, err = invoke(config_file, "purge")
    assert code == 0, err
    assert f"{EVENT}: not due before 2099-11-07 17:00" in out
    assert "nothing to erase" in err
    assert dump(url) == before

    assert invoke(config_file, "purge", "--now")[0] == 2  # forcing needs one named event
    code, out, err = invoke(config_file, "purge", "--event", EVENT, "--now")
    assert code == 0, err
    assert "erased 3 registration(s), 3 ledger entry(ies), 3 reply(ies)" in out
    assert "person1@example.org" not in dump(url)
    assert status_counts(url) == {"confirmed": 3}


def test_mail_tied_to_no_event_is_erased_after_the_longest_retention(
    dovecot_server: Dovecot, imap_account: ImapAccount, config_file: Path, small_scenario: list[CorpusMail]
) -> None:
    """Mail tied to no event loses sender and subject after the longest retention; registrations stay."""
    config_file.write_text(config_file.read_text().replace("2020-10-08T", "2099-10-08T"))
    deliver(dovecot_server, imap_account, small_scenario)
    assert invoke(config_file, "run", "--once")[0] == 0
    config = load_config(config_file, {})
    db = open_database(config)
    others = [m for m in small_scenario if m.kind not in ("registration", "repeat")]
    url = config.database.url

    soon = purge_due(db, config.events, datetime.now(UTC) + timedelta(days=29), addresses=addresses())
    assert soon.erased.total == 0
    report = purge_due(db, config.events, datetime.now(UTC) + timedelta(days=31), addresses=addresses())
    db.dispose()
    assert report.events == ()
    assert report.unlinked.ledger == len(others)
    after = dump(url)
    assert not [m.sender for m in others if m.sender.lower() in after]
    assert all(m.sender.lower() in after for m in registrants(small_scenario))
    assert status_counts(url) == {"confirmed": 12}


@pytest.fixture
def future_desk(
    dovecot_server: Dovecot, imap_account: ImapAccount, smtp_sink: SmtpSink, config_file: Path
) -> Path:
    """The event in 2099 with 2 seats: persons 0-3 registered (0, 1 seated), 1 cancelled by mail (2 promoted).

    Person 0 also thanked us (mail tied to no event), person 3 asked for the status.
    """
    config_file.write_text(config_file.read_text().replace("2020-10-08T", "2099-10-08T"))
    set_capacity(config_file, 2)
    dovecot_server.append_many(
        imap_account.user, [(mail(i, "Digitalisierung 08.10."), T0 + timedelta(minutes=i)) for i in range(4)]
    )
    assert invoke(config_file, "run", "--once")[0] == 0
    later = T0 + timedelta(hours=1)
    # person 1 answers their confirmation (proof of the address: it cancels at once)
    [ours] = [
        str(m.message()["Message-ID"]) for m in smtp_sink.messages if m.rcpt_tos == ("person1@example.org",)
    ]
    dovecot_server.append_many(
        imap_account.user,
        [
            (mail(1, "Abmeldung Digitalisierung 08.10.", "Ich kann leider nicht.", in_reply_to=ours), later),
            (mail(0, "Vielen Dank", "Danke für die schnelle Antwort!"), later + timedelta(minutes=1)),
            (mail(3, "Status Digitalisierung 08.10.", "Habe ich einen Platz?"), later + timedelta(minutes=2)),
        ],
    )
    assert invoke(config_file, "run", "--once")[0] == 0
    assert [s for _, s in statuses(smtp_sink)] == [
        "confirmed",
        "confirmed",
        "waitlisted",
        "waitlisted",
        "cancelled",
        "promoted",
        "status",
    ]
    return config_file


def test_forget_erases_one_person_releases_the_seat_and_leaves_others_intact(
    future_desk: Path, smtp_sink: SmtpSink
) -> None:
    """`forget` cancels the person's seat (the next waiting is promoted), erases them, touches nobody else."""
    url = db_url_of(future_desk)
    before = dump(url)
    assert "person2@example.org" in before
    assert "promoted position 3 (p***@example.org)" in before

    code, out, err = invoke(future_desk, "forget", "Person2@Example.org")  # compared normalised
    assert code == 0, err
    assert f"{EVENT}: registration of p***@example.org cancelled (no mail to them)" in out
    # Staff see whom to tell, in full (issue 13 #7); the forgotten person stays masked in this output.
    assert f"{EVENT}: promoted position 4 (Person 3 <person3@example.org>)" in out
    assert "p***@example.org: erased 1 registration(s)" in out
    assert "person2" not in out + err
    # The freed seat went to the next in line, who was told; the forgotten person got no mail.
    assert statuses(smtp_sink, 7) == [("person3@example.org", "promoted")]

    after = dump(url)
    assert "person2@example.org" not in after
    assert "person 2" not in after
    assert "promoted position 3 (p***@example.org)" not in after  # the mention in person 1's cancel mail
    assert "promoted position 3 ([gelöscht])" in after
    rows = read_csv(invoke(future_desk, "export")[1].encode())
    assert [(r["name"], r["email"], r["status"]) for r in rows] == [
        ("Person 0", "person0@example.org", "confirmed"),
        ("Person 1", "person1@example.org", "cancelled"),
        (ERASED, "", "cancelled"),
        ("Person 3", "person3@example.org", "confirmed"),
    ]
    # Everyone else's mails and replies are as they were.
    for n in (0, 1):
        assert after.count(f"person{n}@example.org") == before.count(f"person{n}@example.org")
    assert after.count("person3@example.org") > before.count("person3@example.org")  # their promotion
    assert query(url, "SELECT COUNT(*) FROM ledger WHERE sender = 'person1@example.org'") == [(2,)]

    code, out, _ = invoke(future_desk, "forget", "person2@example.org")
    assert code == 0
    assert "p***@example.org: nothing stored" in out
    assert invoke(future_desk, "forget", "not-an-address")[0] == 2


def test_forget_after_the_event_keeps_the_seat_count(booked_past_event: Path) -> None:
    """Forgetting someone of an event that already took place erases them but keeps the event's numbers."""
    url = db_url_of(booked_past_event)
    email = str(query(url, "SELECT email FROM registrations WHERE position = 1")[0][0])
    counts = status_counts(url)
    code, out, err = invoke(booked_past_event, "forget", email)
    assert code == 0, err
    assert "cancelled" not in out
    assert status_counts(url) == counts
    assert email.lower() not in dump(url)


def test_export_person_shows_their_data_and_nothing_of_others(future_desk: Path, tmp_path: Path) -> None:
    """`export-person` prints valid JSON: their registrations, replies, mails and history, nobody else's."""
    code, out, err = invoke(future_desk, "export-person", "PERSON1@example.org")
    assert code == 0, err
    data = json.loads(out)
    assert data["address"] == "person1@example.org"
    [registration] = data["registrations"]
    assert registration["event_id"] == EVENT
    assert registration["status"] == "cancelled"
    assert registration["name"] == "Person 1"
    assert registration["position"] == 2
    assert registration["channel"] == "email"
    assert datetime.fromisoformat(registration["cancelled_at"]).tzinfo is not None
    assert [(r["kind"], r["subject"]) for r in data["replies"]] == [
        ("confirmed", "Re: Digitalisierung 08.10."),
        ("cancelled", "Re: Abmeldung Digitalisierung 08.10."),
    ]
    assert all(r["sent_at"] for r in data["replies"])
    assert [(m["outcome"], m["subject"]) for m in data["mails"]] == [
        ("registered", "Digitalisierung 08.10."),
        ("cancelled", "Abmeldung Digitalisierung 08.10."),
    ]
    assert [h["action"] for h in data["history"]] == ["registered", "cancelled"]
    for other in ("person0", "person2", "person3", "Person 0", "Person 2", "Person 3"):
        assert other not in out

    path = tmp_path / "auskunft.json"
    code, _, err = invoke(future_desk, "export-person", "person3@example.org", "-o", str(path))
    assert code == 0, err
    assert path.stat().st_mode & 0o777 == 0o600
    mine = json.loads(path.read_text(encoding="utf-8"))
    assert [m["outcome"] for m in mine["mails"]] == ["registered", "status"]

    assert invoke(future_desk, "forget", "person3@example.org")[0] == 0
    gone = json.loads(invoke(future_desk, "export-person", "person3@example.org")[1])
    assert (gone["registrations"], gone["replies"], gone["mails"], gone["history"]) == ([], [], [], [])


def test_logs_carry_no_address_body_or_password(
    dovecot_server: Dovecot, imap_account: ImapAccount, smtp_sink: SmtpSink, config_file: Path
) -> None:
    """A verbose pass over the scenario corpus logs no full address, no line of a mail body, no password."""
    scenario = build_corpus(registrations=80, repeats=3, unrelated=4, auto_replies=1)
    deliver(dovecot_server, imap_account, scenario)
    code, out, err = invoke(config_file, "-v", "run", "--once")
    assert code == 0, err
    assert len(smtp_sink.messages) == 83
    output = (out + err).lower()
    assert "***@" in output  # the per-message lines are there, masked
    assert not [m.sender for m in scenario if m.sender.lower() in output]
    assert imap_account.password.lower() not in output
    body_lines = set()
    for item in scenario:
        message = BytesParser(policy=policy.default).parsebytes(item.raw)
        part = message.get_body(("plain",))
        if part is not None:
            body_lines |= {line.strip() for line in part.get_content().splitlines() if len(line.strip()) > 30}
    assert body_lines
    assert not [line for line in body_lines if line.lower() in output]


@pytest.fixture
def open_umask() -> Iterator[None]:
    """A umask that would leave new files readable by everyone (so 0600 must come from mailbot)."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.usefixtures("open_umask")
def test_exports_are_private_files(booked_past_event: Path, tmp_path: Path) -> None:
    """CSV and xlsx exports are written 0600, even over an existing world-readable file and with umask 000."""
    for fmt in ("csv", "xlsx"):
        path = tmp_path / f"anmeldungen.{fmt}"
        path.write_bytes(b"")
        path.chmod(0o644)
        code, _, err = invoke(booked_past_event, "export", "--format", fmt, "-o", str(path))
        assert code == 0, err
        assert path.stat().st_mode & 0o777 == 0o600, fmt
        assert path.stat().st_size > 0
