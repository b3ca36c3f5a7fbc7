"""Internationalised and unusual senders end to end: IDN, SMTPUTF8, special-use domains, refusal reasons."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_string, policy
from pathlib import Path

import pytest

from mailbot.demo.servers import ReceivedMail, SmtpSink
from tests.conftest import config_data, toml_text
from tests.integration.test_desk import invoke, read_csv
from tests.servers import Dovecot, ImapAccount

T0 = datetime(2020, 9, 21, 8, 0, tzinfo=UTC)


def mail(sender: str, n: int, *, subject: str = "Digitalisierung 08.10.", message_id: str = "") -> bytes:
    """A registration mail from `sender` (a From header, raw UTF-8 where it isn't ASCII: RFC 6532)."""
    return (
        f"From: {sender}\r\nTo: digitalisierung@castrop-rauxel.de\r\nSubject: {subject}\r\n"
        f"Message-ID: {message_id or f'<intl{n}@example.org>'}\r\n"
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        "Hiermit melde ich mich an.\r\n"
    ).encode()


def write_config(tmp_path: Path, account: ImapAccount, sink: SmtpSink, url: str) -> Path:
    """A config.toml for the account, this sink and database."""
    path = tmp_path / "config.toml"
    path.write_text(toml_text(config_data(account, sink, url)), encoding="utf-8")
    return path


@pytest.fixture
def ascii_sink() -> Iterator[SmtpSink]:
    """An aiosmtpd peer that does not offer SMTPUTF8 (RFC 6531): ASCII envelopes and headers only."""
    with SmtpSink(smtputf8=False) as sink:
        yield sink


def by_recipient(messages: list[ReceivedMail]) -> dict[str, ReceivedMail]:
    """The sink's messages by their one recipient."""
    return {m.rcpt_tos[0]: m for m in messages}


def header_lines(data: bytes) -> list[bytes]:
    """The physical lines of every header block of a mail (the top one and each MIME part's)."""
    lines, in_header = [], True
    for line in data.split(b"\r\n"):
        if line.startswith(b"--=_mailbot_"):
            in_header = True
        elif in_header and line == b"":
            in_header = False
        elif in_header:
            lines.append(line)
    return lines


def test_idn_and_utf8_senders_are_registered_and_answered_with_smtputf8(
    dovecot_server: Dovecot, imap_account: ImapAccount, smtp_sink: SmtpSink, db_url: str, tmp_path: Path
) -> None:
    """`jörg@bürger.de` gets its reply with SMTPUTF8 (UTF-8 envelope and To, RFC 6532); `anna@müller.de`
    gets hers in A-labels without it; both are registered, nothing is quarantined."""
    config = write_config(tmp_path, imap_account, smtp_sink, db_url)
    dovecot_server.append_many(
        imap_account.user,
        [(mail("Jörg Ünal <jörg@bürger.de>", 1), T0), (mail("anna@müller.de", 2), T0 + timedelta(minutes=1))],
    )
    code, out, err = invoke(config, "run", "--once")
    assert code == 0, err
    assert '{"registered": 2}' in out
    sent = by_recipient(smtp_sink.messages)
    assert set(sent) == {"jörg@bürger.de", "anna@xn--mller-kva.de"}

    joerg = sent["jörg@bürger.de"]
    assert "SMTPUTF8" in joerg.mail_options
    parsed = message_from_string(joerg.data.decode("utf-8"), policy=policy.SMTPUTF8)
    assert parsed["To"].addresses[0].addr_spec == "jörg@bürger.de"
    assert parsed["To"].addresses[0].display_name == "Jörg Ünal"
    assert str(parsed["X-Mailbot-Status"]) == "confirmed"

    anna = sent["anna@xn--mller-kva.de"]
    assert "SMTPUTF8" not in anna.mail_options
    assert anna.data.isascii()
    assert anna.message()["To"].addresses[0].addr_spec == "anna@xn--mller-kva.de"

    code, out, _ = invoke(config, "export")
    rows = read_csv(out.encode())
    assert [(r["email"], r["status"]) for r in rows] == [
        ("jörg@bürger.de", "confirmed"),
        ("anna@müller.de", "confirmed"),
    ]


def test_without_smtputf8_a_utf8_local_part_is_a_failed_reply_with_its_reason(
    dovecot_server: Dovecot, imap_account: ImapAccount, ascii_sink: SmtpSink, tmp_path: Path
) -> None:
    """A server without SMTPUTF8: the IDN-only address is answered in A-labels; the non-ASCII local part is
    registered, its reply recorded failed with the reason in `triage`, and no mail is quarantined."""
    config = write_config(tmp_path, imap_account, ascii_sink, f"sqlite:///{tmp_path / 'm.db'}")
    dovecot_server.append_many(
        imap_account.user,
        [
            (mail("Jörg <jörg@bürger.de>", 1), T0),
            (mail("Anna <anna@müller.de>", 2), T0 + timedelta(minutes=1)),
            (mail("Bea <bea@example.org>", 3), T0 + timedelta(minutes=2)),
        ],
    )
    code, out, err = invoke(config, "run", "--once")
    assert code == 0, err
    assert '{"registered": 3}' in out
    assert "replies sent 2, deferred 0, failed 1" in out
    assert sorted(by_recipient(ascii_sink.messages)) == ["anna@xn--mller-kva.de", "bea@example.org"]
    assert all(m.data.isascii() for m in ascii_sink.messages)

    code, out, _ = invoke(config, "triage")
    assert code == 0
    (line,) = [line for line in out.splitlines() if line.startswith("reply #")]
    assert (
        "(confirmed) failed: not sent: the address has a non-ASCII local part, which needs SMTPUTF8" in line
    )
    assert "quarantined" not in out
    code, out, _ = invoke(config, "inspect", "<intl1@example.org>")
    assert "outcome:   registered (digitalisierung-2020: confirmed)" in out
    code, out, _ = invoke(config, "status")
    assert "1 reply(ies) failed permanently" in out


def test_add_with_an_international_address_registers_and_mails(
    imap_account: ImapAccount, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    """`mailbot add --email jörg@bürger.de` registers the person and queues the reply (no raw exception)."""
    config = write_config(tmp_path, imap_account, smtp_sink, f"sqlite:///{tmp_path / 'm.db'}")
    code, out, err = invoke(
        config, "add", "digitalisierung-2020", "--name", "Jörg", "--email", "jörg@bürger.de"
    )
    assert code == 0, err
    assert "confirmed" in out
    code, out, err = invoke(config, "add", "digitalisierung-2020", "--name", "X", "--email", "x..y@bürger.de")
    assert code != 0
    assert "two periods in a row" in err
    assert "Traceback" not in err
    code, _, err = invoke(config, "run", "--once")
    assert code == 0, err
    assert [m.rcpt_tos for m in smtp_sink.messages] == [("jörg@bürger.de",)]


def test_senders_at_special_use_domains_are_registered(
    dovecot_server: Dovecot, imap_account: ImapAccount, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    """Syntax only: staff at `stadt.local` and senders at `.test`, `.invalid` are registered and answered."""
    config = write_config(tmp_path, imap_account, smtp_sink, f"sqlite:///{tmp_path / 'm.db'}")
    senders = ["hotline@stadt.local", "Probe@Test.TEST", "nobody@nowhere.invalid"]
    dovecot_server.append_many(
        imap_account.user, [(mail(s, n), T0 + timedelta(minutes=n)) for n, s in enumerate(senders)]
    )
    code, out, err = invoke(config, "run", "--once")
    assert code == 0, err
    assert '{"registered": 3}' in out
    assert sorted(by_recipient(smtp_sink.messages)) == sorted(
        ["hotline@stadt.local", "Probe@test.test", "nobody@nowhere.invalid"]
    )


def test_a_refused_sender_address_says_why_in_inspect_triage_and_log(
    dovecot_server: Dovecot, imap_account: ImapAccount, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    """An address that fails the syntax check: `inspect`, `triage` and the log line give email-validator's
    reason, with the address masked; no reply."""
    config = write_config(tmp_path, imap_account, smtp_sink, f"sqlite:///{tmp_path / 'm.db'}")
    dovecot_server.append_many(imap_account.user, [(mail("Hans <hans..meier@example.org>", 1), T0)])
    code, out, err = invoke(config, "run", "--once")
    assert code == 0, err
    assert '{"rejected": 1}' in out
    why = "sender address h***@example.org refused: An email address cannot have two periods in a row."
    assert why in err
    assert "hans..meier" not in err
    code, out, _ = invoke(config, "inspect", "<intl1@example.org>")
    assert f"outcome:   rejected ({why})" in out
    code, out, _ = invoke(config, "triage")
    assert why in out
    assert smtp_sink.messages == []


def test_a_huge_subject_and_message_id_give_a_reply_the_server_takes(
    dovecot_server: Dovecot, imap_account: ImapAccount, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    """50,000-character subjects (with and without blanks) and Message-ID: the replies' header lines stay
    within 998 octets (RFC 5322 §2.1.1), so the peer accepts them (it answered 500 Line too long)."""
    config = write_config(tmp_path, imap_account, smtp_sink, f"sqlite:///{tmp_path / 'm.db'}")
    long_id = "<" + "i" * 50_000 + "@example.org>"
    dovecot_server.append_many(
        imap_account.user,
        [
            (mail("a@example.org", 1, subject="Digitalisierung 08.10. " + "x" * 50_000), T0),
            (mail("b@example.org", 2, subject="Digitalisierung 08.10. " + "wort " * 10_000), T0),
            (mail("c@example.org", 3, message_id=long_id), T0),
        ],
    )
    code, out, err = invoke(config, "run", "--once")
    assert code == 0, err
    assert "replies sent 3, deferred 0, failed 0" in out
    for received in smtp_sink.messages:
        assert max(len(line) for line in header_lines(received.data)) <= 998
        assert str(received.message()["X-Mailbot-Status"]) == "confirmed"
    subject = str(by_recipient(smtp_sink.messages)["a@example.org"].message()["Subject"])
    assert subject.startswith("Re: Digitalisierung 08.10. xxx")
    assert subject.endswith("…")
    assert by_recipient(smtp_sink.messages)["c@example.org"].message()["In-Reply-To"] is None


def test_an_admin_at_an_idn_domain_gets_the_alert_through_a_server_without_smtputf8(
    dovecot_server: Dovecot, imap_account: ImapAccount, ascii_sink: SmtpSink, tmp_path: Path
) -> None:
    """`[bot] admin_addresses` at an IDN domain: the alert goes to the A-label form, ASCII only."""
    config = write_config(tmp_path, imap_account, ascii_sink, f"sqlite:///{tmp_path / 'm.db'}")
    config.write_text(
        config.read_text().replace(
            "[bot]\n", '[bot]\nmax_replies_per_hour = 1\nadmin_addresses = ["it@bürger-büro.de"]\n'
        ),
        encoding="utf-8",
    )
    dovecot_server.append_many(
        imap_account.user, [(mail(f"p{n}@example.org", n), T0 + timedelta(minutes=n)) for n in range(2)]
    )
    for _ in range(2):  # the limit is met in the first pass's sending, or at the latest in the second's
        code, _, err = invoke(config, "run", "--once")
        assert code == 0, err
    alerts = [m for m in ascii_sink.messages if str(m.message()["X-Mailbot-Status"]) == "alert"]
    assert [m.rcpt_tos for m in alerts] == [("it@xn--brger-bro-q9ag.de",)]
    assert alerts[0].data.isascii()


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(["history", "digitalisierung-2020", "--email"], id="history"),
        pytest.param(["cancel", "digitalisierung-2020", "--email"], id="cancel"),
        pytest.param(["forget"], id="forget"),
        pytest.param(["export-person"], id="export-person"),
    ],
)
def test_admin_commands_say_why_an_address_is_refused(
    imap_account: ImapAccount, smtp_sink: SmtpSink, tmp_path: Path, command: list[str]
) -> None:
    """An address the commands can't use is refused in one line with email-validator's reason."""
    config = write_config(tmp_path, imap_account, smtp_sink, f"sqlite:///{tmp_path / 'm.db'}")
    code, _, err = invoke(config, *command, "hans..meier@example.org")
    assert code != 0
    (line,) = err.strip().splitlines()
    assert line.endswith("(An email address cannot have two periods in a row.)")


def test_a_bounce_naming_the_a_label_address_finds_the_reply_to_the_unicode_one(
    dovecot_server: Dovecot, imap_account: ImapAccount, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    """A DSN without our Message-ID that reports `anna@xn--mller-kva.de` marks the registration of
    `anna@müller.de` undeliverable (the failed recipient is compared normalised)."""
    from tests.integration.test_intents import dsn_for  # noqa: PLC0415

    config = write_config(tmp_path, imap_account, smtp_sink, f"sqlite:///{tmp_path / 'm.db'}")
    dovecot_server.append_many(imap_account.user, [(mail("Anna <anna@müller.de>", 1), T0)])
    assert invoke(config, "run", "--once")[0] == 0
    bounce = dsn_for("<unknown@elsewhere.example>", "ANNA@xn--mller-kva.de")
    dovecot_server.append_many(imap_account.user, [(bounce, T0 + timedelta(minutes=5))])
    code, out, err = invoke(config, "run", "--once")
    assert code == 0, err
    assert '"bounce": 1' in out
    rows = read_csv(invoke(config, "export")[1].encode())
    assert [(r["email"], r["reply_status"]) for r in rows] == [("anna@müller.de", "undeliverable")]
