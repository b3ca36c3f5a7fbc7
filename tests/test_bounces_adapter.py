"""The flufl.bounce adapter: recipients of every sample bounce, and it never raises or reads ordinary mail."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailbot.adapters import bounces
from mailbot.core.bounce import BounceReport
from mailbot.core.model import RuleContext

DATA = Path(__file__).resolve().parent / "data" / "bounces"
CTX = RuleContext(own_addresses=frozenset({"anmeldung@castrop-rauxel.de"}), own_domain="castrop-rauxel.de")


def sample(name: str) -> bytes:
    """The bytes of a sample in tests/data/bounces."""
    return (DATA / name).read_bytes()


def ours(hex_id: str) -> tuple[str, ...]:
    """Our Message-ID with that hex part, as a one-element tuple."""
    return (f"<{hex_id}.mailbot@castrop-rauxel.de>",)


def mail(*headers: str, body: str) -> bytes:
    """A mail from its header lines and body, with CRLF line ends as on the wire."""
    return ("\r\n".join(headers) + "\r\n\r\n" + body.replace("\n", "\r\n")).encode("utf-8")


# (sample, our_message_ids, failed_recipients, permanent) as the adapter reads them.
EXPECTED = [
    pytest.param(
        "postfix-dsn-ours.eml",
        ours("3f2a9c0d1e8b47a6b5c4d3e2f1a09c8b"),
        ("hans.mueller@example.org",),
        True,
        id="postfix-dsn",
    ),
    pytest.param(
        "postfix-delayed-ours.eml",
        ours("6d8f0a2c4e6b8d0f1a3c5e7b9d1f3a5c"),
        ("m.yilmaz@langsam.example",),
        False,
        id="postfix-delayed",
    ),
    pytest.param(
        "exchange-online-ndr-ours.eml",
        ours("9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b"),
        ("j.becker@firma-beispiel.de",),
        True,
        id="exchange-online",
    ),
    pytest.param(
        "gmail-dsn-ours.eml",
        ours("2c4e6a8b0d1f3a5c7e9b1d3f5a7c9e0b"),
        ("hans.mueller.1987@gmail.com",),
        True,
        id="gmail",
    ),
    pytest.param("postfix-dsn-not-ours.eml", (), ("p.klein@example.net",), True, id="dsn-of-staff-mail"),
    pytest.param(
        "exim-ours.eml",
        ours("7c1e0b9a2d3f4e5a8b6c9d0e1f2a3b4c"),
        ("erika.musterfrau@beispiel-mail.de",),
        True,
        id="exim",
    ),
    pytest.param(
        "qmail-ours.eml",
        ours("0b5d7e9f1a2c4e6b8d0f2a4c6e8b0d2f"),
        ("k.schmidt@kleinanbieter.example",),
        True,
        id="qmail",
    ),
    pytest.param("flufl-dsn_01.txt", (), ("userx@example.com",), True, id="flufl-dsn"),
    pytest.param("flufl-dsn_05.txt", (), ("userx@example.cz",), False, id="flufl-dsn-delayed"),
    pytest.param("flufl-exim_01.txt", (), ("userx@its.example.nl",), True, id="flufl-exim"),
    pytest.param("flufl-qmail_01.txt", (), ("userx@example.de",), True, id="flufl-qmail"),
    pytest.param("flufl-postfix_01.txt", (), ("xxxxx@local.ie",), True, id="flufl-postfix-mixed"),
    pytest.param("flufl-microsoft_01.txt", (), ("userx@example.com",), True, id="flufl-exchange-5.5"),
]


@pytest.mark.parametrize(("name", "message_ids", "recipients", "permanent"), EXPECTED)
def test_sample_is_read(
    name: str, message_ids: tuple[str, ...], recipients: tuple[str, ...], permanent: bool
) -> None:
    """Each sample yields our Message-IDs, its failed recipients (flufl's for text bounces) and finality."""
    report = bounces.read(sample(name), CTX)
    assert report is not None
    assert (report.our_message_ids, report.failed_recipients, report.permanent) == (
        message_ids,
        recipients,
        permanent,
    )


@pytest.mark.parametrize(("name", "message_ids", "recipients", "permanent"), EXPECTED)
def test_bounced_addresses_are_the_permanent_failures(
    name: str,
    message_ids: tuple[str, ...],  # noqa: ARG001 (shared table)
    recipients: tuple[str, ...],
    permanent: bool,
) -> None:
    """bounced_addresses gives flufl's permanent failures, lower-case; a delay warning gives none."""
    assert bounces.bounced_addresses(sample(name)) == (recipients if permanent else ())


def test_temporary_only_text_bounce_of_ours_is_not_permanent() -> None:
    """A text warning quoting our reply, its subject silent on delay: flufl says temporary, and that wins."""
    raw = mail(
        "From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>",
        "To: anmeldung@castrop-rauxel.de",
        "Subject: Delivery Status Notification",
        body=(
            "This is an automatically generated Delivery Status Notification\n\n"
            "Delivery to the following recipient has been delayed:\n\n"
            "     hans.mueller@example.org\n\n"
            "Message will be retried for 2 more day(s)\n\n"
            "----- Original message -----\n\n"
            "Message-ID: <3f2a9c0d1e8b47a6b5c4d3e2f1a09c8b.mailbot@castrop-rauxel.de>\n"
            "Subject: Re: Digitalisierung 08.10.\n"
        ),
    )
    report = bounces.read(raw, CTX)
    assert report is not None
    assert (report.our_message_ids, report.failed_recipients, report.permanent) == (
        ours("3f2a9c0d1e8b47a6b5c4d3e2f1a09c8b"),
        ("hans.mueller@example.org",),
        False,
    )


def test_citizen_pasting_a_bounce_text_is_not_a_bounce() -> None:
    """flufl's heuristics find an address in a citizen's pasted bounce text; read() still gives None."""
    raw = mail(
        "From: Hans Müller <hans.mueller@example.org>",
        "To: anmeldung@castrop-rauxel.de",
        "Subject: Digitalisierung 08.10.",
        body=(
            "Guten Tag, ich wollte mich anmelden, aber meine Frau bekam diese Meldung:\n\n"
            "Hi. This is the qmail-send program at mail.example.net.\n"
            "I'm afraid I wasn't able to deliver your message to the following addresses.\n"
            "This is a permanent error; I've given up. Sorry it didn't work out.\n\n"
            "<erika.mueller@example.net>:\n"
            "Sorry, no mailbox here by that name. (#5.1.1)\n\n"
            "--- Below this line is a copy of the message.\n\n"
            "Mit freundlichen Grüßen\nHans Müller\n"
        ),
    )
    assert bounces.bounced_addresses(raw) == ("erika.mueller@example.net",)
    assert bounces.read(raw, CTX) is None


def test_raw_8bit_header_does_not_defeat_flufl() -> None:
    """Raw UTF-8 in a bounce's From trips flufl's detectors on compat32; the retry still reads it."""
    raw = sample("qmail-ours.eml").replace(
        b"From: MAILER-DAEMON@mail.kleinanbieter.example",
        "From: Zustellsystem Kleinanbieter – Störung <MAILER-DAEMON@mail.kleinanbieter.example>".encode(),
    )
    assert bounces.bounced_addresses(raw) == ("k.schmidt@kleinanbieter.example",)
    report = bounces.read(raw, CTX)
    assert report is not None
    assert report.failed_recipients == ("k.schmidt@kleinanbieter.example",)


def test_flufl_failing_is_contained(monkeypatch: pytest.MonkeyPatch) -> None:
    """When flufl.bounce raises, bounced_addresses gives () and read() falls back to the core's reading."""

    def broken(msg: object) -> object:
        """A detector run that crashes, as flufl's scan functions re-raise their detectors' errors."""
        raise RuntimeError(f"detector crashed on {type(msg).__name__}")

    monkeypatch.setattr(bounces, "scan_message", broken)
    monkeypatch.setattr(bounces, "all_failures", broken)
    assert bounces.bounced_addresses(sample("flufl-exim_01.txt")) == ()
    assert bounces.read(sample("flufl-exim_01.txt"), CTX) is None
    report = bounces.read(sample("exim-ours.eml"), CTX)
    assert report is not None
    assert (report.our_message_ids, report.failed_recipients) == (
        ours("7c1e0b9a2d3f4e5a8b6c9d0e1f2a3b4c"),
        (),
    )


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=3000))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    """Any bytes: bounced_addresses gives a tuple of lower-case str, read() a report or None."""
    found = bounces.bounced_addresses(raw)
    assert all(isinstance(addr, str) and addr == addr.lower() for addr in found)
    result = bounces.read(raw, CTX)
    assert result is None or isinstance(result, BounceReport)
