"""What people write, end to end: cancel, status, replies to our mails, promotions, limits."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mailbot.demo.servers import SmtpSink
from tests.integration.test_desk import invoke, mailbox_state, read_csv
from tests.servers import Dovecot, ImapAccount

T0 = datetime(2020, 9, 21, 8, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def event_in_the_future(config_file: Path) -> None:
    """Move the event ahead of the real clock: after an event has started nobody is promoted."""
    config_file.write_text(config_file.read_text().replace("2020-10-08T", "2099-10-08T"))


def mail(n: int, subject: str, body: str = "Hallo", *, in_reply_to: str = "", mid: str = "") -> bytes:
    """A plain mail from person n."""
    extra = f"In-Reply-To: {in_reply_to}\r\nReferences: {in_reply_to}\r\n" if in_reply_to else ""
    return (
        f"From: Person {n} <person{n}@example.org>\r\nTo: digitalisierung@castrop-rauxel.de\r\n"
        f"Subject: {subject}\r\nMessage-ID: <{mid or f'{subject[:5]}-{n}'.replace(' ', '')}@example.org>\r\n"
        f"{extra}Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n"
    ).encode()


def set_capacity(config: Path, capacity: int) -> None:
    """Rewrite the event's capacity in the config file."""
    text = config.read_text()
    start = text.index("capacity = ")
    end = text.index("\n", start)
    config.write_text(text[:start] + f"capacity = {capacity}" + text[end:])


def statuses(sink: SmtpSink, start: int = 0) -> list[tuple[str, str]]:
    """(recipient, X-Mailbot-Status) of the replies from index `start` on."""
    return [(m.rcpt_tos[0], str(m.message()["X-Mailbot-Status"])) for m in sink.messages[start:]]


def test_cancel_by_mail_promotes_the_first_waitlisted(
    dovecot_server: Dovecot, imap_account: ImapAccount, smtp_sink: SmtpSink, config_file: Path
) -> None:
    """An 'Abmeldung' the owner confirmed frees the seat; the first waitlisted (FIFO) is promoted, told so."""
    set_capacity(config_file, 2)
    dovecot_server.append_many(
        imap_account.user,
        [(mail(i, "Digitalisierung 08.10."), T0 + timedelta(minutes=i)) for i in range(4)],
    )
    assert invoke(config_file, "run", "--once")[0] == 0
    assert [s for _, s in statuses(smtp_sink)] == ["confirmed", "confirmed", "waitlisted", "waitlisted"]

    dovecot_server.append_many(
        imap_account.user, [(mail(0, "Abmeldung Digitalisierung 08.10.", "Ich kann leider nicht."), T0)]
    )
    code, _, err = invoke(config_file, "run", "--once")
    assert code == 0, err
    # A fresh mail proves nothing (anyone can write any From:): the registered address is asked first.
    assert statuses(smtp_sink, 4) == [("person0@example.org", "confirm-cancel")]
    request = smtp_sink.messages[4].message()
    answer = mail(
        0, f"Re: {request['Subject']}", "Abmeldung", in_reply_to=str(request["Message-ID"]), mid="yes"
    )
    dovecot_server.append_many(imap_account.user, [(answer, T0 + timedelta(hours=1))])
    code, _, err = invoke(config_file, "run", "--once")
    assert code == 0, err
    assert sorted(statuses(smtp_sink, 5)) == [
        ("person0@example.org", "cancelled"),
        ("person2@example.org", "promoted"),
    ]
    rows = read_csv(invoke(config_file, "export")[1].encode())
    assert [(r["email"], r["status"]) for r in rows] == [
        ("person0@example.org", "cancelled"),
        ("person1@example.org", "confirmed"),
        ("person2@example.org", "confirmed"),
        ("person3@example.org", "waitlisted"),
    ]
    assert rows[0]["cancelled_at"]
    assert rows[2]["promoted_at"]
    assert not rows[3]["promoted_at"]


def test_cancel_as_reply_to_our_mail_and_status_query(
    dovecot_server: Dovecot, imap_account: ImapAccount, smtp_sink: SmtpSink, config_file: Path
) -> None:
    """'Abmeldung' answering our confirmation cancels; 'Status' reports; a 'Danke' reply is left alone."""
    dovecot_server.append_many(imap_account.user, [(mail(1, "Digitalisierung 08.10."), T0)])
    invoke(config_file, "run", "--once")
    ours = str(smtp_sink.messages[0].message()["Message-ID"])

    thanks = mail(1, "Re: Digitalisierung 08.10.", "Danke!", in_reply_to=ours, mid="thanks")
    status = mail(1, "Status Digitalisierung 08.10.", "Habe ich einen Platz?", mid="status")
    cancel = mail(
        1,
        "Re: Digitalisierung 08.10.",
        "Abmeldung\r\n\r\n> Ihre Teilnahme ist bestätigt",
        in_reply_to=ours,
        mid="cancel",
    )
    again = mail(1, "Re: Re: Digitalisierung 08.10.", "stornieren", in_reply_to=ours, mid="again")
    dovecot_server.append_many(
        imap_account.user,
        [
            (thanks, T0 + timedelta(hours=1)),
            (status, T0 + timedelta(hours=2)),
            (cancel, T0 + timedelta(hours=3)),
            (again, T0 + timedelta(hours=4)),
        ],
    )
    code, _, err = invoke(config_file, "run", "--once")
    assert code == 0, err
    assert [s for _, s in statuses(smtp_sink, 1)] == ["status", "cancelled", "not-registered"]
    assert "Platz 1 von 75" in smtp_sink.messages[1].message().get_content()
    assert mailbox_state(dovecot_server, imap_account)["<thanks@example.org>"] == ()


def test_run_summary_counts_outcomes_and_inspect_says_why_a_reply_is_left_alone(
    dovecot_server: Dovecot, imap_account: ImapAccount, smtp_sink: SmtpSink, config_file: Path
) -> None:
    """One cancellation and one 'Abmeldung' of someone not registered count as one each, not "cancelled": 2;
    `inspect` of a "Danke!" reply naming the keyword tells why it is not a registration."""
    dovecot_server.append_many(imap_account.user, [(mail(1, "Digitalisierung 08.10."), T0)])
    assert invoke(config_file, "run", "--once")[0] == 0
    ours = str(smtp_sink.messages[0].message()["Message-ID"])
    mails = [
        mail(1, "Abmeldung Digitalisierung 08.10.", mid="cancel1", in_reply_to=ours),  # proof: cancels
        mail(2, "Abmeldung Digitalisierung 08.10.", mid="cancel2"),  # person 2 never registered
        mail(3, "Status Digitalisierung 08.10.", mid="status3"),  # nor did person 3
        mail(1, "Re: Digitalisierung 08.10.", "Danke!", in_reply_to=ours, mid="thanks"),
        mail(4, "Digitalisierung", "Hallo,\r\nich komme gern.\r\n\r\n> Digitalisierung 08.10.", mid="quoted"),
    ]
    dovecot_server.append_many(
        imap_account.user, [(m, T0 + timedelta(hours=1, minutes=i)) for i, m in enumerate(mails)]
    )
    code, out, err = invoke(config_file, "run", "--once")
    assert code == 0, err
    assert out.startswith("processed 5 message(s) "), out
    counts = json.loads(out[out.index("{") : out.index("}") + 1])
    assert counts == {"cancelled": 1, "not-registered": 2, "not-registration": 2}
    assert [s for _, s in statuses(smtp_sink, 1)] == ["cancelled", "not-registered", "not-registered"]

    code, out, _ = invoke(config_file, "inspect", "<thanks@example.org>")
    assert code == 0
    assert (
        "  outcome:   not-registration (names digitalisierung-2020 only in the subject of a reply to our "
        "mail, and its own text asks for nothing (no keyword, no cancel or status word): for staff)"
    ) in out.splitlines()
    code, out, _ = invoke(config_file, "inspect", "<quoted@example.org>")
    assert "outcome:   not-registration (names digitalisierung-2020 only in quoted text" in out


def test_seat_waitlist_place_and_arrival_number_agree_in_reply_list_and_csv(
    dovecot_server: Dovecot, imap_account: ImapAccount, smtp_sink: SmtpSink, config_file: Path
) -> None:
    """Person 6 moves up to the 5th of 5 seats: the status reply says "Platz 5 von 5", `list` and the CSV say
    seat 5 and arrival number 6; person 7 is on waitlist place 1 everywhere."""
    set_capacity(config_file, 5)
    dovecot_server.append_many(
        imap_account.user,
        [(mail(i, "Digitalisierung 08.10."), T0 + timedelta(minutes=i)) for i in range(1, 8)],
    )
    assert invoke(config_file, "run", "--once")[0] == 0
    ours = next(
        str(m.message()["Message-ID"]) for m in smtp_sink.messages if m.rcpt_tos[0] == "person1@example.org"
    )
    dovecot_server.append_many(
        imap_account.user,
        [
            (
                mail(1, "Abmeldung Digitalisierung 08.10.", mid="c1", in_reply_to=ours),
                T0 + timedelta(hours=1),
            ),
            (mail(6, "Status Digitalisierung 08.10.", mid="s6"), T0 + timedelta(hours=2)),
            (mail(7, "Status Digitalisierung 08.10.", mid="s7"), T0 + timedelta(hours=3)),
        ],
    )
    assert invoke(config_file, "run", "--once")[0] == 0
    replies = {(m.rcpt_tos[0], str(m.message()["X-Mailbot-Status"])): m.message() for m in smtp_sink.messages}
    assert "Sie haben Platz 5 von 5." in replies[("person6@example.org", "status")].get_content()
    assert "auf Wartelistenplatz 1." in replies[("person7@example.org", "status")].get_content()

    code, out, _ = invoke(config_file, "list", "digitalisierung-2020")
    assert code == 0
    header = re.split(r" {2,}", next(x for x in out.splitlines() if x.startswith("id ")))
    assert header[:4] == ["id", "arrival", "status", "seat/place"]
    rows = [re.split(r" {2,}", x) for x in out.splitlines()[3:]]
    assert [(r[1], r[2], r[3]) for r in rows] == [
        ("1", "cancelled", "Person 1"),  # neither seat nor place: the name is the next cell
        *[(str(i), "confirmed", f"seat {i - 1}") for i in range(2, 7)],
        ("7", "waitlisted", "waitlist 1"),
    ]
    code, out, _ = invoke(config_file, "list", "digitalisierung-2020", "--status", "waitlisted")
    assert re.split(r" {2,}", out.splitlines()[3])[1:4] == ["7", "waitlisted", "waitlist 1"]

    csv_rows = read_csv(invoke(config_file, "export")[1].encode())
    assert [(r["arrival_no"], r["seat"], r["waitlist_place"]) for r in csv_rows] == [
        ("1", "", ""),
        *[(str(i), str(i - 1), "") for i in range(2, 7)],
        ("7", "", "1"),
    ]


def test_quoted_cancel_word_does_not_cancel(
    dovecot_server: Dovecot, imap_account: ImapAccount, smtp_sink: SmtpSink, config_file: Path
) -> None:
    """'Abmeldung' only in quoted text is no cancellation: the mail is a plain (repeat) registration."""
    body = "Ich melde mich an.\r\n\r\nAm 20.09.2020 schrieb Stadt:\r\n> Abmeldung bitte per Mail"
    dovecot_server.append_many(imap_account.user, [(mail(1, "Digitalisierung 08.10.", body), T0)])
    assert invoke(config_file, "run", "--once")[0] == 0
    assert statuses(smtp_sink) == [("person1@example.org", "confirmed")]


def test_per_address_limit_sends_one_notice_then_silence(
    dovecot_server: Dovecot, imap_account: ImapAccount, smtp_sink: SmtpSink, config_file: Path
) -> None:
    """Past max_replies_per_address_per_day, one 'limit' notice goes out, then nothing; triage lists it."""
    config_file.write_text(
        config_file.read_text().replace("[bot]\n", "[bot]\nmax_replies_per_address_per_day = 2\n")
    )
    dovecot_server.append_many(
        imap_account.user,
        [(mail(1, "Digitalisierung 08.10.", mid=f"m{i}"), T0 + timedelta(minutes=i)) for i in range(5)],
    )
    assert invoke(config_file, "run", "--once")[0] == 0
    assert [s for _, s in statuses(smtp_sink)] == ["confirmed", "duplicate", "limit"]
    code, out, _ = invoke(config_file, "triage")
    assert code == 0
    assert out.count("reply suppressed: daily limit") == 2


def test_hourly_limit_pauses_sending_alerts_admins_once_and_loses_nothing(
    dovecot_server: Dovecot, imap_account: ImapAccount, smtp_sink: SmtpSink, config_file: Path
) -> None:
    """Past max_replies_per_hour sending pauses, status says so, the admin gets one alert; replies wait."""
    config_file.write_text(
        config_file.read_text().replace(
            "[bot]\n", '[bot]\nmax_replies_per_hour = 3\nadmin_addresses = ["it@castrop-rauxel.de"]\n'
        )
    )
    dovecot_server.append_many(
        imap_account.user, [(mail(i, "Digitalisierung 08.10."), T0 + timedelta(minutes=i)) for i in range(5)]
    )
    assert invoke(config_file, "run", "--once")[0] == 0
    assert invoke(config_file, "run", "--once")[0] == 0
    sent = statuses(smtp_sink)
    assert [s for _, s in sent].count("confirmed") == 3
    assert sent.count(("it@castrop-rauxel.de", "alert")) == 1
    out = invoke(config_file, "status")[1]
    assert "SENDING PAUSED" in out
    assert "digitalisierung-2020" in out
    rows = read_csv(invoke(config_file, "export")[1].encode())
    assert [r["reply_status"] for r in rows] == ["sent"] * 3 + ["pending"] * 2


def test_raising_capacity_promotes_on_next_pass_and_lowering_unconfirms_nobody(
    dovecot_server: Dovecot, imap_account: ImapAccount, smtp_sink: SmtpSink, config_file: Path
) -> None:
    """Capacity 2 -> 3 promotes the first waitlisted; 3 -> 1 keeps everyone confirmed and status warns."""
    set_capacity(config_file, 2)
    dovecot_server.append_many(
        imap_account.user, [(mail(i, "Digitalisierung 08.10."), T0 + timedelta(minutes=i)) for i in range(4)]
    )
    invoke(config_file, "run", "--once")
    set_capacity(config_file, 3)
    assert invoke(config_file, "run", "--once")[0] == 0
    assert statuses(smtp_sink, 4) == [("person2@example.org", "promoted")]

    set_capacity(config_file, 1)
    assert invoke(config_file, "run", "--once")[0] == 0
    assert len(smtp_sink.messages) == 5
    out = invoke(config_file, "status")[1]
    assert "has 3 confirmed but capacity 1" in out
    rows = read_csv(invoke(config_file, "export")[1].encode())
    assert [r["status"] for r in rows] == ["confirmed", "confirmed", "confirmed", "waitlisted"]


def dsn_for(reply_message_id: str, recipient: str) -> bytes:
    """A Postfix delivery status notification (RFC 3464) returning one of our replies."""
    return (
        "Return-Path: <>\r\nFrom: MAILER-DAEMON@mx.example.org (Mail Delivery System)\r\n"
        "To: digitalisierung@castrop-rauxel.de\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        "Auto-Submitted: auto-replied\r\nMessage-ID: <dsn-1@mx.example.org>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nYour message could not\r\n"
        "be delivered to one or more recipients.\r\n\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.org\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n\r\n"
        "--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: Stadt <digitalisierung@castrop-rauxel.de>\r\nTo: {recipient}\r\n"
        f"Subject: Re: Digitalisierung 08.10.\r\nMessage-ID: {reply_message_id}\r\n\r\n--B--\r\n"
    ).encode()


def test_bounce_of_our_reply_marks_the_registration_undeliverable(
    dovecot_server: Dovecot, imap_account: ImapAccount, smtp_sink: SmtpSink, config_file: Path
) -> None:
    """A DSN of our confirmation flags the registration undeliverable (status, CSV, triage); seat kept."""
    dovecot_server.append_many(imap_account.user, [(mail(1, "Digitalisierung 08.10."), T0)])
    invoke(config_file, "run", "--once")
    ours = str(smtp_sink.messages[0].message()["Message-ID"])
    dovecot_server.append_many(
        imap_account.user, [(dsn_for(ours, "person1@example.org"), T0 + timedelta(minutes=5))]
    )
    code, out, err = invoke(config_file, "run", "--once")
    assert code == 0, err
    assert '"bounce": 1' in out
    assert len(smtp_sink.messages) == 1  # the bounce itself is never answered
    rows = read_csv(invoke(config_file, "export")[1].encode())
    assert [(r["status"], r["reply_status"]) for r in rows] == [("confirmed", "undeliverable")]
    status = invoke(config_file, "status")[1]
    assert "1 registration(s) whose reply bounced" in status
    triage = invoke(config_file, "triage")[1]
    assert "bounce of our reply to p***@example.org" in triage
    assert mailbox_state(dovecot_server, imap_account)["<dsn-1@mx.example.org>"] == ()
