"""Bounces: DSNs and non-standard bounces of our replies are read; anything else is not a bounce."""

from __future__ import annotations

import base64
import email
import email.policy
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailbot.core import bounce
from mailbot.core.bounce import BounceReport, may_be_bounce, might_be_bounce, read_bounce
from mailbot.core.model import RuleContext
from mailbot.core.parse import parse_message

DATA = Path(__file__).resolve().parents[1] / "data" / "bounces"
CTX = RuleContext(own_addresses=frozenset({"anmeldung@castrop-rauxel.de"}), own_domain="castrop-rauxel.de")
OURS = "<3f2a9c0d1e8b47a6b5c4d3e2f1a09c8b.mailbot@castrop-rauxel.de>"


def sample(name: str) -> bytes:
    """The bytes of a sample in tests/data/bounces."""
    return (DATA / name).read_bytes()


def mail(*headers: str, body: str = "Guten Tag,\n\nich melde mich an.\n\nHans Müller\n") -> bytes:
    """A mail from its header lines and body, with CRLF line ends as on the wire."""
    return ("\r\n".join(headers) + "\r\n\r\n" + body.replace("\n", "\r\n")).encode("utf-8")


def dsn(status_block: str, returned: str = f"Message-ID: {OURS}\n", *, returned_cte: str = "") -> bytes:
    """A minimal RFC 3464 DSN with the given per-recipient block(s) and returned headers."""
    cte = f"Content-Transfer-Encoding: {returned_cte}\n" if returned_cte else ""
    return mail(
        "From: MAILER-DAEMON@mx.example.org",
        "To: anmeldung@castrop-rauxel.de",
        "Subject: Undelivered Mail Returned to Sender",
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"',
        body=(
            "--b\nContent-Type: text/plain\n\nYour message could not be delivered.\n"
            "--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.org\n\n"
            f"{status_block}\n"
            f"--b\nContent-Type: text/rfc822-headers\n{cte}\n{returned}\n"
            "--b--\n"
        ),
    )


# (sample, our_message_ids, failed_recipients, permanent) as the core reads them: non-standard bounces
# have no recipients here (the adapter adds flufl.bounce's), and those not quoting our Message-ID are None.
CORE_EXPECTED = [
    pytest.param(
        "postfix-dsn-ours.eml",
        ("<3f2a9c0d1e8b47a6b5c4d3e2f1a09c8b.mailbot@castrop-rauxel.de>",),
        ("hans.mueller@example.org",),
        True,
        id="postfix-dsn",
    ),
    pytest.param(
        "postfix-delayed-ours.eml",
        ("<6d8f0a2c4e6b8d0f1a3c5e7b9d1f3a5c.mailbot@castrop-rauxel.de>",),
        ("m.yilmaz@langsam.example",),
        False,
        id="postfix-delayed",
    ),
    pytest.param(
        "exchange-online-ndr-ours.eml",
        ("<9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b.mailbot@castrop-rauxel.de>",),
        ("j.becker@firma-beispiel.de",),
        True,
        id="exchange-online",
    ),
    pytest.param(
        "gmail-dsn-ours.eml",
        ("<2c4e6a8b0d1f3a5c7e9b1d3f5a7c9e0b.mailbot@castrop-rauxel.de>",),
        ("hans.mueller.1987@gmail.com",),
        True,
        id="gmail",
    ),
    pytest.param("postfix-dsn-not-ours.eml", (), ("p.klein@example.net",), True, id="dsn-of-staff-mail"),
    pytest.param(
        "exim-ours.eml",
        ("<7c1e0b9a2d3f4e5a8b6c9d0e1f2a3b4c.mailbot@castrop-rauxel.de>",),
        (),
        True,
        id="exim",
    ),
    pytest.param(
        "qmail-ours.eml",
        ("<0b5d7e9f1a2c4e6b8d0f2a4c6e8b0d2f.mailbot@castrop-rauxel.de>",),
        (),
        True,
        id="qmail",
    ),
    pytest.param("flufl-dsn_01.txt", (), ("userx@example.com",), True, id="flufl-dsn-original-recipient"),
    pytest.param("flufl-dsn_05.txt", (), ("userx@example.cz",), False, id="flufl-dsn-delayed"),
]
NOT_OURS_NON_STANDARD = [
    "flufl-exim_01.txt",
    "flufl-qmail_01.txt",
    "flufl-postfix_01.txt",
    "flufl-microsoft_01.txt",
]


@pytest.mark.parametrize(("name", "ours", "recipients", "permanent"), CORE_EXPECTED)
def test_sample_is_read(
    name: str, ours: tuple[str, ...], recipients: tuple[str, ...], permanent: bool
) -> None:
    """Each sample yields its Message-IDs of ours, its failed recipients and whether the failure is final."""
    report = read_bounce(sample(name), CTX)
    assert report is not None
    assert (report.our_message_ids, report.failed_recipients, report.permanent) == (
        ours,
        recipients,
        permanent,
    )


@pytest.mark.parametrize("name", NOT_OURS_NON_STANDARD)
def test_non_standard_bounce_of_other_mail_is_left_to_the_adapter(name: str) -> None:
    """A text bounce quoting no Message-ID of ours is None in the core (flufl.bounce reads its recipients)."""
    assert read_bounce(sample(name), CTX) is None


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param(
            "postfix-dsn-ours.eml", "550 5.1.1 <hans.mueller@example.org>: Recipient address", id="dsn"
        ),
        pytest.param(
            "postfix-delayed-ours.eml",
            "connect to mx.langsam.example[203.0.113.7]:25: Connection",
            id="delayed",
        ),
        pytest.param("exim-ours.eml", "Mailbox quota exceeded: 550 5.2.2 mailbox full", id="exim"),
        pytest.param("qmail-ours.eml", "Sorry, no mailbox here by that name. (#5.1.1)", id="qmail"),
        pytest.param("flufl-dsn_01.txt", "5.0.0 (recipient reached disk quota)", id="status-only"),
    ],
)
def test_diagnostic_quotes_the_remote_server(name: str, expected: str) -> None:
    """The diagnostic is the Diagnostic-Code without its type, else the Status, else the SMTP reply line."""
    report = read_bounce(sample(name), CTX)
    assert report is not None
    assert report.diagnostic.startswith(expected)
    assert "\n" not in report.diagnostic
    assert len(report.diagnostic) <= 300


def test_own_domain_decides_what_is_ours() -> None:
    """The same DSN read for another bot's domain names no Message-ID of ours, but still its recipient."""
    other = RuleContext(own_addresses=frozenset({"anmeldung@herne.example"}), own_domain="herne.example")
    report = read_bounce(sample("postfix-dsn-ours.eml"), other)
    assert report == BounceReport(
        (), ("hans.mueller@example.org",), True, report.diagnostic if report else ""
    )


def test_own_message_id_matches_in_any_case() -> None:
    """Domains are case-insensitive: an MTA upper-casing our Message-ID's domain still gives our reply."""
    shouted = OURS.replace("castrop-rauxel.de", "CASTROP-RAUXEL.DE")
    report = read_bounce(
        dsn(
            "Final-Recipient: rfc822; a@example.org\nAction: failed\nStatus: 5.1.1\n",
            f"Message-ID: {shouted}\n",
        ),
        CTX,
    )
    assert report is not None
    assert report.our_message_ids == (shouted,)


def test_only_failed_and_delayed_recipients_are_reported() -> None:
    """Of a multi-recipient DSN only the failed ones count; delivered, relayed and expanded ones don't."""
    blocks = (
        "Final-Recipient: rfc822; ok@example.org\nAction: delivered\nStatus: 2.0.0\n\n"
        "Final-Recipient: rfc822; later@example.org\nAction: delayed\nStatus: 4.4.1\n\n"
        "Final-Recipient: rfc822; Gone@Example.org\nAction: failed\nStatus: 5.1.1\n\n"
        "Final-Recipient: rfc822; relay@example.org\nAction: relayed\nStatus: 2.0.0\n"
    )
    report = read_bounce(dsn(blocks), CTX)
    assert report is not None
    assert (report.failed_recipients, report.permanent) == (("gone@example.org",), True)


def test_success_only_dsn_names_no_failure() -> None:
    """A DSN reporting delivery only (NOTIFY=SUCCESS) is read, but with no recipient and not permanent."""
    report = read_bounce(
        dsn("Final-Recipient: rfc822; ok@example.org\nAction: delivered\nStatus: 2.0.0\n"), CTX
    )
    assert report is not None
    assert (report.our_message_ids, report.failed_recipients, report.permanent) == ((OURS,), (), False)


@pytest.mark.parametrize(
    ("status", "permanent"),
    [pytest.param("5.2.2", True, id="5xx-failed"), pytest.param("4.2.2", False, id="4xx-delayed")],
)
def test_missing_action_is_taken_from_the_status_class(status: str, permanent: bool) -> None:
    """A DSN without the required Action field: 5.x.x counts as failed, 4.x.x as delayed."""
    report = read_bounce(dsn(f"Final-Recipient: rfc822; a@example.org\nStatus: {status}\n"), CTX)
    assert report is not None
    assert (report.failed_recipients, report.permanent) == (("a@example.org",), permanent)


def test_original_recipient_is_preferred_and_folding_undone() -> None:
    """Original-Recipient (the address we sent to) wins over Final-Recipient; folded fields are unfolded."""
    block = (
        "Final-Recipient: rfc822;\n alias@mx.example.org\nOriginal-Recipient: rfc822;<Hans@Example.org>\n"
        "Action: failed (bad mailbox)\nStatus: 5.1.1 (user unknown)\n"
        "Diagnostic-Code: smtp; 550 5.1.1 no such\n user here\n"
    )
    report = read_bounce(dsn(block), CTX)
    assert report is not None
    assert report.failed_recipients == ("hans@example.org",)
    assert report.diagnostic == "550 5.1.1 no such user here"


def test_base64_returned_headers_are_decoded() -> None:
    """Returned headers sent base64-encoded (allowed for text/rfc822-headers) still give our Message-ID."""
    encoded = base64.encodebytes(f"From: anmeldung@castrop-rauxel.de\nMessage-ID: {OURS}\n".encode()).decode()
    report = read_bounce(
        dsn(
            "Final-Recipient: rfc822; a@example.org\nAction: failed\nStatus: 5.1.1\n",
            encoded,
            returned_cte="base64",
        ),
        CTX,
    )
    assert report is not None
    assert report.our_message_ids == (OURS,)


def test_dsn_without_returned_copy_finds_our_id_in_the_text() -> None:
    """A DSN that returns no copy (RET=HDRS ignored) gives our Message-ID where its text quotes it."""
    raw = mail(
        "From: postmaster@mx.example.org",
        "Subject: Delivery Notification: Delivery has failed",
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"',
        body=(
            f"--b\nContent-Type: text/plain\n\nThis report relates to a message with these fields:\n\n"
            f"  Message-id: {OURS}\n  Subject: Re: Digitalisierung\n\n"
            "--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.org\n\n"
            "Final-Recipient: rfc822; a@example.org\nAction: failed\nStatus: 5.0.0\n--b--\n"
        ),
    )
    report = read_bounce(raw, CTX)
    assert report is not None
    assert (report.our_message_ids, report.failed_recipients) == ((OURS,), ("a@example.org",))


def test_text_bounce_of_a_staff_reply_in_our_thread_is_not_ours() -> None:
    """Our Message-ID in the returned mail's References (a staff reply in our thread) is not our reply."""
    raw = mail(
        "From: Mail Delivery System <Mailer-Daemon@mx.example.org>",
        "Subject: Mail delivery failed: returning message to sender",
        body=(
            "A message that you sent could not be delivered.\n\n  p.klein@example.net\n\n"
            "------ This is a copy of the message, including all the headers. ------\n\n"
            "From: Stefanie Wagner <anmeldung@castrop-rauxel.de>\n"
            "Message-ID: <d5f1c6a2-7e3b@castrop-rauxel.de>\n"
            f"In-Reply-To: {OURS}\nReferences: <1@example.net>\n {OURS}\n\nHallo Herr Klein,\n"
        ),
    )
    assert read_bounce(raw, CTX) is None


REPLY_HEADERS = (
    "From: Anmeldung Stadt Castrop-Rauxel <anmeldung@castrop-rauxel.de>",
    "To: Hans Müller <hans.mueller@example.org>",
    "Subject: Re: Digitalisierung 08.10.",
    f"Message-ID: {OURS}",
    "Auto-Submitted: auto-replied",
    "X-Mailbot-Status: confirmed",
)
NOT_BOUNCES = [
    pytest.param(b"", id="empty"),
    pytest.param(b"\x00\xff\xfe garbage \x80\x81\r\n\r\n\xc3", id="garbage"),
    pytest.param(b"no header at all, just a line of text", id="no-header"),
    pytest.param(
        mail(
            "From: Hans Müller <hans.mueller@example.org>",
            "To: anmeldung@castrop-rauxel.de",
            "Subject: Digitalisierung 08.10.",
            "Message-ID: <20201001091500.4711@mail.example.org>",
        ),
        id="citizen-registration",
    ),
    pytest.param(
        mail(
            "From: Hans Müller <hans.mueller@example.org>",
            "Subject: Re: Digitalisierung 08.10.",
            f"In-Reply-To: {OURS}",
            f"References: <20201001091500.4711@mail.example.org> {OURS}",
            body=f"Abmeldung\n\nAm 01.10.2020 schrieb anmeldung@castrop-rauxel.de:\n> Message-ID: {OURS}\n",
        ),
        id="citizen-replying-to-our-reply",
    ),
    pytest.param(
        mail(
            "From: Hans Müller <hans.mueller@example.org>",
            "Subject: Automatische Antwort: Re: Digitalisierung 08.10.",
            "Auto-Submitted: auto-replied",
            f"In-Reply-To: {OURS}",
            f"References: {OURS}",
            body="Ich bin bis zum 12.10. nicht im Büro.\n",
        ),
        id="out-of-office",
    ),
    pytest.param(mail(*REPLY_HEADERS, body="Ihre Teilnahme ist bestätigt.\n"), id="our-own-reply-looping"),
    pytest.param(
        mail(
            "From: Hans Müller <hans.mueller@example.org>",
            "Subject: Gelesen: Re: Digitalisierung 08.10.",
            'Content-Type: multipart/report; report-type=disposition-notification; boundary="b"',
            body=(
                "--b\nContent-Type: text/plain\n\nIhre Nachricht wurde gelesen.\n"
                "--b\nContent-Type: message/disposition-notification\n\n"
                f"Final-Recipient: rfc822; hans.mueller@example.org\nOriginal-Message-ID: {OURS}\n"
                "Disposition: manual-action/MDN-sent-manually; displayed\n--b--\n"
            ),
        ),
        id="read-receipt",
    ),
    pytest.param(
        mail(
            "From: Stefanie Wagner <s.wagner@castrop-rauxel.de>",
            "To: anmeldung@castrop-rauxel.de",
            "Subject: WG: Re: Digitalisierung 08.10.",
            'Content-Type: multipart/mixed; boundary="b"',
            body=(
                "--b\nContent-Type: text/plain; charset=utf-8\n\nBitte einmal ansehen, danke!\n"
                "--b\nContent-Type: message/rfc822\n\n"
                + "\n".join(REPLY_HEADERS)
                + "\n\nIhre Teilnahme ...\n--b--\n"
            ),
        ),
        id="staff-forwarding-our-reply",
    ),
]


@pytest.mark.parametrize("raw", NOT_BOUNCES)
def test_not_a_bounce_gives_none(raw: bytes) -> None:
    """Garbage, ordinary mail, replies, auto-replies, read receipts and our own mail are not bounces."""
    assert read_bounce(raw, CTX) is None


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param(("Return-Path: <>",), True, id="null-return-path"),
        pytest.param(("X-Failed-Recipients: a@example.org",), True, id="x-failed-recipients"),
        pytest.param(("From: MAILER-DAEMON@mx.example.org",), True, id="mailer-daemon"),
        pytest.param(("From: Mail Delivery Subsystem <mta@example.org>",), True, id="mail-delivery-name"),
        pytest.param(("Subject: Unzustellbar: Anmeldung",), True, id="german-subject"),
        pytest.param(("From: Hans <h@example.org>", "Subject: Anmeldung"), False, id="citizen"),
        pytest.param(("From: Post Master <h.post@example.org>",), False, id="robot-words-in-name"),
    ],
)
def test_looks_like_bounce(headers: tuple[str, ...], expected: bool) -> None:
    """A mail presents itself as a bounce by its null Return-Path, daemon sender, Exim header or subject."""
    msg = email.message_from_bytes(mail(*headers), policy=email.policy.compat32)
    assert bounce.looks_like_bounce(msg) is expected


SAMPLES = sorted(path.name for path in DATA.iterdir() if path.suffix in {".eml", ".txt"})


def test_every_sample_has_an_expectation() -> None:
    """Every file in tests/data/bounces is checked by one of the tables above (none is dead weight)."""
    named = {p.values[0] for p in CORE_EXPECTED} | set(NOT_OURS_NON_STANDARD)
    assert set(SAMPLES) == named


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4000))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    """Any bytes at all: the reading itself (without the safety net) returns a report or None."""
    result = bounce._read(raw, CTX)
    assert result is None or isinstance(result, BounceReport)
    assert read_bounce(raw, CTX) == result


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(SAMPLES),
    st.integers(min_value=0, max_value=20_000),
    st.integers(min_value=0, max_value=200),
    st.binary(max_size=200),
)
def test_damaged_samples_never_raise(name: str, at: int, cut: int, junk: bytes) -> None:
    """A real bounce with bytes cut out and junk spliced in: the reading itself never raises."""
    raw = sample(name)
    at = min(at, len(raw))
    damaged = raw[:at] + junk + raw[at + cut :]
    result = bounce._read(damaged, CTX)
    assert result is None or isinstance(result, BounceReport)


_SAMPLES = sorted(
    [
        *(Path(__file__).parents[1] / "data" / "bounces").glob("*.*"),
        *(Path(__file__).parents[1] / "data" / "mail").glob("*.eml"),
    ]
)


@pytest.mark.parametrize("path", [p for p in _SAMPLES if p.suffix in (".eml", ".txt")], ids=lambda p: p.name)
def test_screen_on_parsed_headers_agrees_with_the_raw_screen(path: Path) -> None:
    """may_be_bounce on the parsed mail agrees with might_be_bounce on its raw bytes, for every sample."""
    raw = path.read_bytes()
    assert may_be_bounce(parse_message(raw)) == might_be_bounce(raw)
