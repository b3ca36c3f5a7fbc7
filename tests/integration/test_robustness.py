"""Bad input loses nothing: quarantine, size limit, arrival order by INTERNALDATE, explaining decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mailbot.core import booking
from mailbot.demo.corpus import build_corpus
from mailbot.demo.servers import SmtpSink
from tests.integration.test_desk import deliver, invoke, mailbox_state, message_id, read_csv
from tests.servers import Dovecot, ImapAccount

T0 = datetime(2020, 9, 21, 8, 0, tzinfo=UTC)


def registration(n: int, *, size: int = 0) -> bytes:
    """A plain registration mail from person n, padded to about `size` bytes."""
    body = "Hiermit melde ich mich an.\r\n" + ("Viele Grüße\r\n" * (size // 14))
    return (
        f"From: Person {n} <person{n}@example.org>\r\nTo: digitalisierung@castrop-rauxel.de\r\n"
        f"Subject: Digitalisierung 08.10.\r\nMessage-ID: <reg{n}@example.org>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + body
    ).encode()


def test_one_failing_message_is_quarantined_and_the_pass_goes_on(
    dovecot_server: Dovecot,
    imap_account: ImapAccount,
    smtp_sink: SmtpSink,
    config_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An unexpected error on one message rolls it back and quarantines it; the rest are booked."""
    real = booking.decide
    calls = {"n": 0}

    def flaky(*args: object, **kwargs: object) -> booking.Decision:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk on fire")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(booking, "decide", flaky)
    dovecot_server.append_many(
        imap_account.user, [(registration(i), T0 + timedelta(minutes=i)) for i in range(4)]
    )
    code, out, err = invoke(config_file, "run", "--once")
    assert code == 0, err
    assert '"quarantined": 1' in out
    assert len(smtp_sink.messages) == 3
    assert "person1@example.org" not in {m.rcpt_tos[0] for m in smtp_sink.messages}
    state = mailbox_state(dovecot_server, imap_account)
    assert state["<reg1@example.org>"] == ()  # left for staff, untouched

    code, out, _ = invoke(config_file, "inspect", "<reg1@example.org>")
    assert code == 0
    assert "quarantined (RuntimeError: disk on fire)" in out

    code, out, err = invoke(config_file, "export")
    rows = read_csv(out.encode())
    assert [r["arrival_no"] for r in rows] == ["1", "2", "3"]  # no gap for the quarantined mail


def test_oversized_mail_is_recorded_not_parsed_and_left_alone(
    dovecot_server: Dovecot,
    imap_account: ImapAccount,
    smtp_sink: SmtpSink,
    config_file: Path,
) -> None:
    """A mail above max_message_bytes gets no reply and stays untouched; smaller mails are booked."""
    config_file.write_text(config_file.read_text().replace("[bot]\n", "[bot]\nmax_message_bytes = 4000\n"))
    dovecot_server.append_many(
        imap_account.user,
        [
            (registration(1), T0),
            (registration(2, size=20000), T0 + timedelta(minutes=1)),
            (registration(3), T0 + timedelta(minutes=2)),
        ],
    )
    code, out, err = invoke(config_file, "run", "--once")
    assert code == 0, err
    assert '"too-large": 1' in out
    assert sorted(m.rcpt_tos[0] for m in smtp_sink.messages) == ["person1@example.org", "person3@example.org"]
    assert mailbox_state(dovecot_server, imap_account)["<reg2@example.org>"] == ()
    code, out, _ = invoke(config_file, "status")
    assert "too-large 1" in out


def test_arrival_order_is_internaldate_not_uid_nor_date_header(
    dovecot_server: Dovecot,
    imap_account: ImapAccount,
    smtp_sink: SmtpSink,
    config_file: Path,
) -> None:
    """A mail appended later but with an earlier INTERNALDATE ranks first; the Date header is ignored."""
    config_file.write_text(config_file.read_text().replace("capacity = 75", "capacity = 1"))
    late = registration(1).replace(b"Subject:", b"Date: Mon, 01 Jan 2001 00:00:00 +0000\r\nSubject:")
    dovecot_server.append_many(imap_account.user, [(late, T0 + timedelta(hours=2))])
    dovecot_server.append_many(imap_account.user, [(registration(2), T0)])  # higher UID, earlier arrival
    code, _, err = invoke(config_file, "run", "--once")
    assert code == 0, err
    status = {m.rcpt_tos[0]: str(m.message()["X-Mailbot-Status"]) for m in smtp_sink.messages}
    assert status == {"person2@example.org": "confirmed", "person1@example.org": "waitlisted"}
    code, out, _ = invoke(config_file, "export")
    rows = read_csv(out.encode())
    assert [(r["email"], r["received_at"]) for r in rows] == [
        ("person2@example.org", "2020-09-21T10:00:00+02:00"),
        ("person1@example.org", "2020-09-21T12:00:00+02:00"),
    ]


def test_inspect_explains_why_an_out_of_office_got_no_reply(
    dovecot_server: Dovecot,
    imap_account: ImapAccount,
    smtp_sink: SmtpSink,
    config_file: Path,
) -> None:
    """`mailbot inspect` shows the outcome and every rule that hit, by Message-ID."""
    mails = build_corpus(registrations=1, repeats=0, unrelated=0, auto_replies=1)
    deliver(dovecot_server, imap_account, mails)
    code, _, err = invoke(config_file, "run", "--once")
    assert code == 0, err
    auto = next(m for m in mails if m.kind == "auto-reply")
    code, out, _ = invoke(config_file, "inspect", message_id(auto))
    assert code == 0
    assert "outcome:   machine (Auto-Submitted: auto-replied)" in out
    assert "rule hit:  auto-submitted: Auto-Submitted: auto-replied" in out
    assert "rule hit:  keyword:digitalisierung-2020" in out
    assert len(smtp_sink.messages) == 1
    code, _, err = invoke(config_file, "inspect", "<nothing@example.org>")
    assert code == 1
    assert "no message" in err


def test_export_escapes_formulas_and_supports_comma(
    dovecot_server: Dovecot,
    imap_account: ImapAccount,
    config_file: Path,
) -> None:
    """A display name starting with '=' is escaped in the CSV; --delimiter , writes commas."""
    evil = registration(1).replace(b"From: Person 1", b'From: "=HYPERLINK(1)"')
    dovecot_server.append_many(imap_account.user, [(evil, T0)])
    invoke(config_file, "run", "--once")
    code, out, _ = invoke(config_file, "export", "--delimiter", ",")
    assert code == 0
    lines = out.lstrip("\ufeff").splitlines()
    assert lines[0].startswith("event_id,arrival_no,status,name,email,phone,received_at,replied_at")
    assert ",'=HYPERLINK(1)," in lines[1]
