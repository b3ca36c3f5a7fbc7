"""Only the owner of an address changes its registration (invariant 8); one mailbox is one person."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mailbot.demo.servers import SmtpSink
from tests.integration.test_desk import invoke, read_csv
from tests.integration.test_intents import set_capacity, statuses
from tests.servers import Dovecot, ImapAccount

T0 = datetime(2020, 9, 21, 8, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def event_in_the_future(config_file: Path) -> None:
    """Move the event ahead of the real clock: after an event has started nobody is promoted."""
    config_file.write_text(config_file.read_text().replace("2020-10-08T", "2099-10-08T"))


def mail(sender: str, subject: str, body: str = "Hallo", *, mid: str, refs: str = "") -> bytes:
    """A plain mail from `sender`; `refs`: the Message-IDs it answers (In-Reply-To and References)."""
    extra = f"In-Reply-To: {refs.rsplit(maxsplit=1)[-1]}\r\nReferences: {refs}\r\n" if refs else ""
    return (
        f"From: {sender}\r\nTo: digitalisierung@castrop-rauxel.de\r\nSubject: {subject}\r\n"
        f"Message-ID: <{mid}@example.org>\r\n{extra}Content-Type: text/plain; charset=utf-8\r\n"
        f"Content-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n"
    ).encode()


def bot_setting(config: Path, line: str) -> None:
    """Add one line to the [bot] table of the config file."""
    config.write_text(config.read_text().replace("[bot]\n", f"[bot]\n{line}\n"))


def registered(config: Path) -> list[tuple[str, str]]:
    """(email, status) of the event's registrations, from the CSV export."""
    return [(r["email"], r["status"]) for r in read_csv(invoke(config, "export")[1].encode())]


def test_sub_addresses_of_one_mailbox_get_one_seat(
    dovecot_server: Dovecot, imap_account: ImapAccount, smtp_sink: SmtpSink, config_file: Path
) -> None:
    """anna+1@, ANNA+2@ and anna@ are one person: the first gets the seat, the others are told it is taken."""
    senders = ["anna+1@gmx.de", "ANNA+2@gmx.de", "anna@gmx.de", "bert+anna@gmx.de"]
    dovecot_server.append_many(
        imap_account.user,
        [
            (mail(s, "Digitalisierung 08.10.", mid=f"r{i}"), T0 + timedelta(minutes=i))
            for i, s in enumerate(senders)
        ],
    )
    code, _, err = invoke(config_file, "run", "--once")
    assert code == 0, err
    assert statuses(smtp_sink) == [
        ("anna+1@gmx.de", "confirmed"),
        ("ANNA+2@gmx.de", "duplicate"),
        ("anna@gmx.de", "duplicate"),
        ("bert+anna@gmx.de", "confirmed"),
    ]
    assert registered(config_file) == [("anna+1@gmx.de", "confirmed"), ("bert+anna@gmx.de", "confirmed")]
    # a later pass (no read-ahead of the same batch) still knows her
    dovecot_server.append_many(
        imap_account.user, [(mail("anna+3@gmx.de", "Digitalisierung 08.10.", mid="r9"), T0)]
    )
    assert invoke(config_file, "run", "--once")[0] == 0
    assert statuses(smtp_sink, 4) == [("anna+3@gmx.de", "duplicate")]


def test_folding_can_be_switched_off(
    dovecot_server: Dovecot, imap_account: ImapAccount, smtp_sink: SmtpSink, config_file: Path
) -> None:
    """With fold_subaddress = false every spelling is a person of its own (a server without sub-addresses)."""
    bot_setting(config_file, "fold_subaddress = false")
    dovecot_server.append_many(
        imap_account.user,
        [
            (mail(s, "Digitalisierung 08.10.", mid=f"r{i}"), T0 + timedelta(minutes=i))
            for i, s in enumerate(["anna+1@gmx.de", "anna+2@gmx.de"])
        ],
    )
    assert invoke(config_file, "run", "--once")[0] == 0
    assert statuses(smtp_sink) == [("anna+1@gmx.de", "confirmed"), ("anna+2@gmx.de", "confirmed")]


def test_forged_cancellation_changes_nothing_and_the_owner_confirms_by_reply(
    dovecot_server: Dovecot, imap_account: ImapAccount, smtp_sink: SmtpSink, config_file: Path
) -> None:
    """Forged 'Abmeldung' mails in Anna's name change nothing; she gets one request, and her reply cancels."""
    set_capacity(config_file, 1)
    dovecot_server.append_many(
        imap_account.user,
        [
            (mail("Anna <anna@gmx.de>", "Digitalisierung 08.10.", mid="anna"), T0),
            (mail("Bert <bert@gmx.de>", "Digitalisierung 08.10.", mid="bert"), T0 + timedelta(minutes=1)),
        ],
    )
    assert invoke(config_file, "run", "--once")[0] == 0
    assert statuses(smtp_sink) == [("anna@gmx.de", "confirmed"), ("bert@gmx.de", "waitlisted")]
    berts = str(smtp_sink.messages[1].message()["Message-ID"])  # Bert, the forger, knows this one of ours

    later = T0 + timedelta(hours=1)
    forged = [
        mail(
            "Anna <anna@gmx.de>", "Abmeldung Digitalisierung 08.10.", "Klick: http://evil.example", mid="f1"
        ),
        mail("anna+x@gmx.de", "Abmeldung Digitalisierung 08.10.", mid="f2"),  # her mailbox, another +tag
        mail("Anna <anna@gmx.de>", "Re: Digitalisierung 08.10.", "Abmeldung", mid="f3", refs=berts),
    ]
    dovecot_server.append_many(
        imap_account.user, [(m, later + timedelta(minutes=i)) for i, m in enumerate(forged)]
    )
    code, out, err = invoke(config_file, "run", "--once")
    assert code == 0, err
    assert '"cancel-requested": 3' in out
    assert registered(config_file) == [("anna@gmx.de", "confirmed"), ("bert@gmx.de", "waitlisted")]
    assert statuses(smtp_sink, 2) == [("anna@gmx.de", "confirm-cancel")]  # one request, to her address
    request = smtp_sink.messages[2].message()
    assert str(request["Subject"]) == "Bitte bestätigen: Digitalisierung in Castrop-Rauxel"
    assert request["In-Reply-To"] is None  # a new mail: nothing of the forger's mail reaches Anna
    assert "evil.example" not in request.get_content()
    assert "mit dem Wort „Abmeldung“" in request.get_content()

    # Anna answers without the word: nothing happens; with it, the seat goes to Bert.
    ours = str(request["Message-ID"])
    no = mail("Anna <anna@gmx.de>", f"Re: {request['Subject']}", "Das war ich nicht!", mid="no", refs=ours)
    yes = mail(
        "Anna <anna@gmx.de>", f"Re: {request['Subject']}", "Abmeldung\r\n\r\n> Bitte", mid="yes", refs=ours
    )
    dovecot_server.append_many(imap_account.user, [(no, later + timedelta(hours=1))])
    assert invoke(config_file, "run", "--once")[0] == 0
    assert len(smtp_sink.messages) == 3
    assert registered(config_file) == [("anna@gmx.de", "confirmed"), ("bert@gmx.de", "waitlisted")]
    dovecot_server.append_many(imap_account.user, [(yes, later + timedelta(hours=2))])
    assert invoke(config_file, "run", "--once")[0] == 0
    assert sorted(statuses(smtp_sink, 3)) == [("anna@gmx.de", "cancelled"), ("bert@gmx.de", "promoted")]
    assert registered(config_file) == [("anna@gmx.de", "cancelled"), ("bert@gmx.de", "confirmed")]


def test_a_reply_to_our_mail_cancels_at_once(
    dovecot_server: Dovecot, imap_account: ImapAccount, smtp_sink: SmtpSink, config_file: Path
) -> None:
    """'Abmeldung' answering our confirmation (from another +tag of her mailbox) needs no second step."""
    dovecot_server.append_many(
        imap_account.user, [(mail("anna+kurs@gmx.de", "Digitalisierung 08.10.", mid="a"), T0)]
    )
    assert invoke(config_file, "run", "--once")[0] == 0
    ours = str(smtp_sink.messages[0].message()["Message-ID"])
    cancel = mail(
        "anna@gmx.de", "Re: Digitalisierung 08.10.", "Abmeldung", mid="c", refs=f"<a@example.org> {ours}"
    )
    dovecot_server.append_many(imap_account.user, [(cancel, T0 + timedelta(hours=1))])
    assert invoke(config_file, "run", "--once")[0] == 0
    assert statuses(smtp_sink, 1) == [("anna@gmx.de", "cancelled")]
    assert registered(config_file) == [("anna+kurs@gmx.de", "cancelled")]
