"""`mailbot retry`: quarantined and rejected mails decided again after a fix, late, in their arrival order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from mailbot.demo.servers import SmtpSink
from tests.integration.test_desk import invoke, read_csv
from tests.integration.test_faults import execute, future_config, outcomes
from tests.integration.test_intents import mail, statuses
from tests.servers import Dovecot, ImapAccount

T0 = datetime(2020, 9, 21, 8, 0, tzinfo=UTC)
KEYWORD = "Digitalisierung 08.10."
BROKEN = ("person2@example.org", "person4@example.org")  # a bug of ours hits these two
NOBODY = (
    f"From: Nobody <nobody>\r\nTo: digitalisierung@castrop-rauxel.de\r\nSubject: {KEYWORD}\r\n"
    "Message-ID: <nobody@example.org>\r\n\r\nHallo\r\n"
).encode()


def break_for_two(url: str) -> None:
    """A trigger failing the registrations of BROKEN with an error that is no fault of the environment."""
    where = ", ".join(f"'{a}'" for a in BROKEN)
    if url.startswith("sqlite"):
        execute(
            url,
            "CREATE TRIGGER bug BEFORE INSERT ON registrations "
            f"WHEN NEW.email_normalized IN ({where}) BEGIN SELECT RAISE(ABORT, 'a bug of ours'); END",
        )
        return
    execute(
        url,
        "CREATE FUNCTION bug() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"IF NEW.email_normalized IN ({where}) THEN RAISE EXCEPTION 'a bug of ours'; END IF; "
        "RETURN NEW; END $$",
        "CREATE TRIGGER bug BEFORE INSERT ON registrations FOR EACH ROW EXECUTE FUNCTION bug()",
    )


def fix(url: str) -> None:
    """The bug fixed."""
    execute(url, "DROP TRIGGER bug" if url.startswith("sqlite") else "DROP TRIGGER bug ON registrations")


def test_retry_decides_quarantined_mails_late_keeping_their_arrival_and_taking_no_seat_back(
    dovecot_server: Dovecot,
    imap_account: ImapAccount,
    smtp_sink: SmtpSink,
    db_url: str,
    tmp_path: Path,
) -> None:
    """After a fix, `retry UID` and `retry --quarantined` decide the quarantined mails in arrival order:
    the server's arrival time kept, the next free seat or the waitlist's end, audited; rejected stays so."""
    config = future_config(tmp_path, imap_account, smtp_sink, db_url, capacity=2)
    assert invoke(config, "db", "upgrade")[0] == 0
    break_for_two(db_url)
    dovecot_server.append_many(
        imap_account.user,
        [(mail(i, KEYWORD), T0 + timedelta(minutes=i)) for i in (1, 2, 3, 4)]
        + [(NOBODY, T0 + timedelta(minutes=5)), (mail(6, KEYWORD), T0 + timedelta(minutes=6))],
    )
    code, _, err = invoke(config, "run", "--once")
    assert code == 0, err
    assert outcomes(db_url) == {"registered": 3, "quarantined": 2, "rejected": 1}
    assert statuses(smtp_sink) == [
        ("person1@example.org", "confirmed"),
        ("person3@example.org", "confirmed"),
        ("person6@example.org", "waitlisted"),
    ]
    code, out, err = invoke(config, "retry", "3")
    assert code == 1
    assert err.strip() == (
        "mailbot: retry: uid 3 was decided 'registered'; only quarantined or rejected mails are decided again"
    )

    fix(db_url)
    code, out, err = invoke(config, "retry", "2")
    assert code == 0, err
    assert out.splitlines()[0].startswith(
        "uid 2: quarantined -> registered (digitalisierung-2020: waitlisted; "
    )
    assert "decided late by admin (mailbot retry) at " in out
    assert out.splitlines()[1] == "1 mail(s) decided again"
    code, out, err = invoke(config, "retry", "--quarantined")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("uid 4: quarantined -> registered (digitalisierung-2020: waitlisted; ")
    assert lines[1].startswith("uid 5: rejected -> rejected (")  # the reason as a pass gives it, then:
    assert "; decided late by admin (mailbot retry) at " in lines[1]
    assert lines[2] == "2 mail(s) decided again"
    assert outcomes(db_url) == {"registered": 5, "rejected": 1}
    again = invoke(config, "retry", "--quarantined")[1]  # the rejected mail, rejected again
    assert again.splitlines()[-1] == "1 mail(s) decided again"

    rows = read_csv(invoke(config, "export")[1].encode())
    assert [(r["email"], r["status"], r["arrival_no"]) for r in rows] == [
        ("person1@example.org", "confirmed", "1"),
        ("person3@example.org", "confirmed", "2"),
        ("person6@example.org", "waitlisted", "3"),
        ("person2@example.org", "waitlisted", "4"),  # late: behind person 6, who was placed first
        ("person4@example.org", "waitlisted", "5"),
    ]
    assert rows[3]["received_at"] < rows[2]["received_at"]  # the server's arrival time, kept for the record
    assert statuses(smtp_sink, 3) == [
        ("person2@example.org", "waitlisted"),
        ("person4@example.org", "waitlisted"),
    ]
    history = invoke(config, "history", "digitalisierung-2020", "--email", "person2@example.org")[1]
    assert (
        "registered: - -> waitlisted  by mail uid 2 from p***@example.org, decided late by admin" in history
    )
    assert "; first quarantined: " in history  # and why it was
    inspected = invoke(config, "inspect", "2")[1]
    assert "decided late by admin (mailbot retry)" in inspected


def test_retry_leaves_a_mail_staff_removed_as_it_was_and_names_a_mail_it_cannot_find(
    dovecot_server: Dovecot, imap_account: ImapAccount, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    """A quarantined mail deleted from the folder keeps its verdict (unchanged); an unknown UID: one line."""
    url = f"sqlite:///{tmp_path / 'mailbot.db'}"
    config = future_config(tmp_path, imap_account, smtp_sink, url, capacity=2)
    assert invoke(config, "db", "upgrade")[0] == 0
    break_for_two(url)
    dovecot_server.append_many(imap_account.user, [(mail(2, KEYWORD), T0)])
    assert invoke(config, "run", "--once")[0] == 0
    assert outcomes(url) == {"quarantined": 1}
    client = dovecot_server.client(imap_account.user)
    try:
        client.select_folder("INBOX")
        client.delete_messages([1])
        client.expunge()
    finally:
        client.logout()
    fix(url)
    code, out, err = invoke(config, "retry", "--quarantined")
    assert code == 0, err
    assert out.splitlines() == [
        "uid 1: quarantined unchanged (no longer in INBOX: left as it was)",
        "0 mail(s) decided again",
    ]
    assert outcomes(url) == {"quarantined": 1}
    code, out, err = invoke(config, "retry", "7")
    assert (code, out) == (1, "")
    assert err == "mailbot: retry: uid 7 is not in the ledger of INBOX (see `mailbot inspect 7`)\n"
    assert invoke(config, "retry")[0] == 2  # neither a UID nor --quarantined
