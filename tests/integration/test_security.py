"""Security promises end to end: the sender-trust gate, no header injection, no backscatter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from mailbot.demo.servers import SmtpSink
from tests.integration.test_desk import invoke, mailbox_state
from tests.integration.test_intents import statuses
from tests.servers import Dovecot, ImapAccount

T0 = datetime(2020, 9, 21, 8, 0, tzinfo=UTC)


def raw(sender: str, *, headers: str = "", mid: str, body: str = "Ich melde mich an.") -> bytes:
    """A registration mail with extra raw header lines."""
    return (
        f"{headers}From: {sender}\r\nTo: digitalisierung@castrop-rauxel.de\r\n"
        f"Subject: Digitalisierung 08.10.\r\nMessage-ID: <{mid}@example.org>\r\n\r\n{body}\r\n"
    ).encode()


def test_unauthenticated_senders_are_held_for_staff(
    dovecot_server: Dovecot, imap_account: ImapAccount, smtp_sink: SmtpSink, config_file: Path
) -> None:
    """With the sender gate only DMARC/SPF-aligned senders are answered; the rest wait in triage."""
    config_file.write_text(
        config_file.read_text().replace(
            "[bot]\n", '[bot]\nrequire_authenticated_sender = true\nauthserv_id = "mx.castrop-rauxel.de"\n'
        )
    )
    good = raw(
        "Anna <anna@gmx.de>",
        mid="good",
        headers="Authentication-Results: mx.castrop-rauxel.de; dmarc=pass header.from=gmx.de\r\n",
    )
    forged = raw(
        "Chef <buergermeister@castrop-rauxel.de>",
        mid="forged",
        headers="Authentication-Results: mx.castrop-rauxel.de; dmarc=fail header.from=castrop-rauxel.de\r\n",
    )
    dovecot_server.append_many(imap_account.user, [(good, T0), (forged, T0 + timedelta(minutes=1))])
    code, out, err = invoke(config_file, "run", "--once")
    assert code == 0, err
    assert statuses(smtp_sink) == [("anna@gmx.de", "confirmed")]
    assert '"held": 1' in out
    assert "held for staff: neither DMARC nor aligned SPF passed" in invoke(config_file, "triage")[1]
    assert mailbox_state(dovecot_server, imap_account)["<forged@example.org>"] == ()


def test_authentication_results_of_other_servers_are_ignored(
    dovecot_server: Dovecot, imap_account: ImapAccount, smtp_sink: SmtpSink, config_file: Path
) -> None:
    """A pass written by the sender (another authserv-id) counts for nothing: only our server's verdict."""
    config_file.write_text(
        config_file.read_text().replace(
            "[bot]\n", '[bot]\nrequire_authenticated_sender = true\nauthserv_id = "mx.castrop-rauxel.de"\n'
        )
    )
    forged = raw(
        "Anna <anna@gmx.de>",
        mid="forged-ar",
        headers=(
            "Authentication-Results: mx.evil.example; dmarc=pass header.from=gmx.de\r\n"
            "Authentication-Results: mx.castrop-rauxel.de; dmarc=fail header.from=gmx.de\r\n"
        ),
    )
    unvouched = raw(
        "Bert <bert@gmx.de>",
        mid="unvouched",
        headers="Authentication-Results: mx.evil.example; dmarc=pass header.from=gmx.de\r\n",
    )
    dovecot_server.append_many(imap_account.user, [(forged, T0), (unvouched, T0 + timedelta(minutes=1))])
    code, out, err = invoke(config_file, "run", "--once")
    assert code == 0, err
    assert smtp_sink.messages == []
    assert '"held": 2' in out
    triage = invoke(config_file, "triage")[1]
    assert "held for staff: neither DMARC nor aligned SPF passed for gmx.de" in triage
    assert "held for staff: no Authentication-Results of mx.castrop-rauxel.de" in triage


def test_the_sender_gate_without_an_authserv_id_refuses_to_start(config_file: Path) -> None:
    """The sender gate without [bot] authserv_id refuses to start: one clear line naming the key, exit 2."""
    config_file.write_text(
        config_file.read_text().replace("[bot]\n", "[bot]\nrequire_authenticated_sender = true\n")
    )
    code, out, err = invoke(config_file, "run", "--once")
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith(f"{config_file}: [bot] authserv_id: missing: require_authenticated_sender = true")


def test_header_injection_through_names_and_subjects_is_impossible(
    dovecot_server: Dovecot, imap_account: ImapAccount, smtp_sink: SmtpSink, config_file: Path
) -> None:
    """CR/LF, encoded CR/LF, very long and non-ASCII names never add a header or a recipient to a reply."""
    evil = [
        raw("=?utf-8?q?Evil=0D=0ABcc=3A_victim=40example=2Eorg?= <evil1@example.org>", mid="e1"),
        raw("=?utf-8?b?" + "RXZpbA0KQmNjOiB2aWN0aW1AZXhhbXBsZS5vcmc=" + "?= <evil2@example.org>", mid="e2"),
        raw(("Ä" * 400) + " <long@example.org>", mid="e3"),
    ]
    dovecot_server.append_many(
        imap_account.user, [(m, T0 + timedelta(minutes=i)) for i, m in enumerate(evil)]
    )
    assert invoke(config_file, "run", "--once")[0] == 0
    assert len(smtp_sink.messages) == 3
    for sent in smtp_sink.messages:
        assert len(sent.rcpt_tos) == 1
        msg = sent.message()
        assert msg["Bcc"] is None
        assert {"bcc", "cc"}.isdisjoint(k.lower() for k in msg)  # the name stayed inside To's display name
        assert [a.addr_spec for a in msg["To"].addresses] == [sent.rcpt_tos[0]]
        assert len(msg.get_all("To") or []) == 1
        assert b"Ich melde mich an" not in sent.data  # never quotes the citizen's mail (backscatter)
