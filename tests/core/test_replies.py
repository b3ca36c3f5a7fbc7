"""Replies: one recipient, threaded, marked as an auto-reply, the shipped texts, no header injection."""

from __future__ import annotations

import email
import email.policy
import email.utils
from datetime import UTC, datetime
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import pytest

from mailbot.core.mime import Mail
from mailbot.core.model import Address, Decision, Event, ReplyStatus, Status
from mailbot.core.parse import decode_header_value
from mailbot.core.replies import ReplySettings, build_reply, format_when, reply_subject, template_name
from mailbot.templates import load_templates

BERLIN = ZoneInfo("Europe/Berlin")
EVENT = Event(
    id="digi",
    title="Digitalisierung in der Verwaltung",
    keyword="Digitalisierung 08.10.",
    capacity=30,
    starts_at=datetime(2020, 10, 8, 18, 0, tzinfo=BERLIN),
    ends_at=datetime(2020, 10, 8, 20, 30, tzinfo=BERLIN),
)
HANS = Address("Hans Müller", "hans.mueller@example.org")
NOW = datetime(2020, 10, 1, 7, 15, tzinfo=UTC)
OWN_ID = "<5f3a9c0d1e2b.mailbot@stadt.example>"

CONFIRMED = Decision(ReplyStatus.CONFIRMED, Status.CONFIRMED, new_registration=True, position=17, seat=17)
WAITLISTED = Decision(
    ReplyStatus.WAITLISTED, Status.WAITLISTED, new_registration=True, position=38, waitlist_position=4
)
DUP_CONFIRMED = Decision(
    ReplyStatus.DUPLICATE, Status.CONFIRMED, new_registration=False, position=17, seat=17
)
DUP_WAITLISTED = Decision(
    ReplyStatus.DUPLICATE, Status.WAITLISTED, new_registration=False, position=38, waitlist_position=4
)


def settings(language: str = "de") -> ReplySettings:
    """The desk's reply settings with the shipped templates of a language."""
    return ReplySettings(
        sender="Anmeldung Stadt <anmeldung@stadt.example>",
        timezone=BERLIN,
        language=language,
        templates=load_templates(language),
    )


def reply(
    decision: Decision = CONFIRMED,
    *,
    recipient: Address = HANS,
    subject: str = "Digitalisierung 08.10.",
    message_id: str | None = "<CAF4711@mail.example.org>",
    references: tuple[str, ...] = (),
    language: str = "de",
    event: Event = EVENT,
) -> Mail:
    """A reply built the way the service builds it."""
    return build_reply(
        event=event,
        decision=decision,
        recipient=recipient,
        original_subject=subject,
        original_message_id=message_id,
        original_references=references,
        message_id=OWN_ID,
        now=NOW,
        settings=settings(language),
    )


def on_the_wire(msg: Mail) -> EmailMessage:
    """The reply serialised as the SMTP adapter sends it, and parsed back."""
    parsed = email.message_from_bytes(msg.as_bytes(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def recipients(msg: Mail) -> list[tuple[str, str]]:
    """Every (name, address) a serialised reply is addressed to, in any recipient header.

    Read from the raw header text (RFC 2047 decoding by the core's lenient decoder), because the email
    package's own address parser inserts spaces between the encoded-words of a long name.
    """
    raw = email.message_from_bytes(msg.as_bytes(), policy=email.policy.compat32)
    names = ("To", "Cc", "Bcc", "Resent-To", "Resent-Cc", "Resent-Bcc")
    fields = [str(value) for name in names for value in raw.get_all(name, [])]
    return [(decode_header_value(name), addr) for name, addr in email.utils.getaddresses(fields)]


def body(msg: EmailMessage) -> str:
    """The decoded text of a single-part reply."""
    content = msg.get_content()
    assert isinstance(content, str)
    return content


# --- headers ------------------------------------------------------------------------------------------------


def test_exactly_one_recipient() -> None:
    """The reply goes to the sender of the keyword mail and nobody else."""
    assert recipients(reply()) == [("Hans Müller", "hans.mueller@example.org")]


SUBJECTS = [
    pytest.param("Digitalisierung 08.10.", "Re: Digitalisierung 08.10.", id="plain"),
    pytest.param("Re: Digitalisierung 08.10.", "Re: Digitalisierung 08.10.", id="re-kept"),
    pytest.param("RE: Digitalisierung 08.10.", "RE: Digitalisierung 08.10.", id="upper-case-re-kept"),
    pytest.param("AW: Digitalisierung 08.10.", "AW: Digitalisierung 08.10.", id="aw-kept"),
    pytest.param("aw:Digitalisierung 08.10.", "aw:Digitalisierung 08.10.", id="lower-case-aw-no-space"),
    pytest.param("WG: Digitalisierung 08.10.", "Re: WG: Digitalisierung 08.10.", id="forward-gets-re"),
    pytest.param("Reply all: Digitalisierung", "Re: Reply all: Digitalisierung", id="word-starting-re"),
    pytest.param("  Digitalisierung   08.10. ", "Re: Digitalisierung 08.10.", id="spaces-collapsed"),
    pytest.param("", "Re: Digitalisierung in der Verwaltung", id="empty-uses-title"),
    pytest.param(" \t ", "Re: Digitalisierung in der Verwaltung", id="blank-uses-title"),
]


@pytest.mark.parametrize(("original", "expected"), SUBJECTS)
def test_subject(original: str, expected: str) -> None:
    """The subject is "Re: <original>", never a second reply prefix; an empty one names the event."""
    assert str(on_the_wire(reply(subject=original))["Subject"]) == expected


def test_reply_subject_prefix_check_is_case_insensitive() -> None:
    """reply_subject() recognises Re:/AW: in any case."""
    assert reply_subject("aW: x", "fallback") == "aW: x"
    assert reply_subject("rE: x", "fallback") == "rE: x"


def test_threading_headers() -> None:
    """In-Reply-To is the original Message-ID; References are the original's plus it (RFC 5322 §3.6.4)."""
    msg = on_the_wire(
        reply(message_id="<CAF4711@mail.example.org>", references=("<r1@x.example>", "<r2@x.example>"))
    )
    assert msg["In-Reply-To"] == "<CAF4711@mail.example.org>"
    assert msg["References"].split() == ["<r1@x.example>", "<r2@x.example>", "<CAF4711@mail.example.org>"]


def test_long_reference_chain_keeps_the_newest() -> None:
    """A very long References chain is trimmed from the oldest end and still ends with the original."""
    refs = tuple(f"<r{n}@x.example>" for n in range(40))
    ids = on_the_wire(reply(references=refs))["References"].split()
    assert ids[-1] == "<CAF4711@mail.example.org>"
    assert ids[-2] == "<r39@x.example>"
    assert len(ids) < 41


def test_without_original_message_id_no_threading_headers() -> None:
    """A mail without Message-ID gets a reply without In-Reply-To and References."""
    msg = on_the_wire(reply(message_id=None))
    assert msg["In-Reply-To"] is None
    assert msg["References"] is None


def test_marked_as_automatic_reply() -> None:
    """Auto-Submitted: auto-replied (RFC 3834) and X-Auto-Response-Suppress: All keep robots quiet."""
    msg = on_the_wire(reply())
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["X-Auto-Response-Suppress"] == "All"


def test_identity_and_date() -> None:
    """From is the desk, Message-ID is the one given, Date is the given time."""
    msg = on_the_wire(reply())
    assert msg["From"] == "Anmeldung Stadt <anmeldung@stadt.example>"
    assert msg["Message-ID"] == OWN_ID
    assert msg["Date"].datetime == NOW


@pytest.mark.parametrize(
    ("decision", "status"),
    [
        pytest.param(CONFIRMED, "confirmed", id="confirmed"),
        pytest.param(WAITLISTED, "waitlisted", id="waitlisted"),
        pytest.param(DUP_CONFIRMED, "duplicate", id="duplicate-confirmed"),
        pytest.param(DUP_WAITLISTED, "duplicate", id="duplicate-waitlisted"),
    ],
)
def test_status_header(decision: Decision, status: str) -> None:
    """X-Mailbot-Status states the decision: confirmed, waitlisted or duplicate."""
    assert on_the_wire(reply(decision))["X-Mailbot-Status"] == status


def test_template_names() -> None:
    """Each decision picks its template; a duplicate names the existing registration's status."""
    assert [template_name(d) for d in (CONFIRMED, WAITLISTED, DUP_CONFIRMED, DUP_WAITLISTED)] == [
        "confirmed",
        "waitlisted",
        "duplicate-confirmed",
        "duplicate-waitlisted",
    ]


# --- body --------------------------------------------------------------------------------------------------

WHEN_DE = "Donnerstag, 8. Oktober 2020, 18:00–20:30 Uhr"
WHEN_EN = "Thursday, 8 October 2020, 18:00–20:30"


@pytest.mark.parametrize(
    ("decision", "language", "expected"),
    [
        pytest.param(CONFIRMED, "de", ["Platz 17 von 30", "bestätigt"], id="de-confirmed"),
        pytest.param(WAITLISTED, "de", ["Warteliste", "auf Wartelistenplatz 4"], id="de-waitlisted"),
        pytest.param(
            DUP_CONFIRMED, "de", ["bereits angemeldet", "Platz 17 von 30"], id="de-duplicate-confirmed"
        ),
        pytest.param(
            DUP_WAITLISTED,
            "de",
            ["bereits angemeldet", "Warteliste", "auf Wartelistenplatz 4"],
            id="de-dup-waitlisted",
        ),
        pytest.param(CONFIRMED, "en", ["seat 17 of 30"], id="en-confirmed"),
        pytest.param(WAITLISTED, "en", ["waiting list: your waitlist place is 4"], id="en-waitlisted"),
        pytest.param(
            DUP_CONFIRMED, "en", ["already registered", "seat 17 of 30"], id="en-duplicate-confirmed"
        ),
        pytest.param(
            DUP_WAITLISTED, "en", ["already registered", "waitlist place 4"], id="en-duplicate-waitlisted"
        ),
    ],
)
def test_body_names_event_time_and_place(decision: Decision, language: str, expected: list[str]) -> None:
    """The text names the event title, its date and time, and the seat or waitlist place."""
    text = body(on_the_wire(reply(decision, language=language)))
    assert EVENT.title in text
    assert (WHEN_DE if language == "de" else WHEN_EN) in text
    for phrase in expected:
        assert phrase in text
    assert "$" not in text  # every placeholder was filled


def test_body_greets_by_name() -> None:
    """The German text greets the recipient by name, or neutrally without one."""
    assert body(on_the_wire(reply())).startswith("Guten Tag Hans Müller,")
    assert body(on_the_wire(reply(recipient=Address("", "hans@example.org")))).startswith("Guten Tag,")


def test_time_is_shown_in_the_desk_time_zone() -> None:
    """Start and end given in UTC are written in the desk's time zone."""
    utc_event = Event(
        "digi", "Digitalisierung", "Digitalisierung 08.10.", 30,
        datetime(2020, 10, 8, 16, 0, tzinfo=UTC), datetime(2020, 10, 8, 18, 30, tzinfo=UTC),
    )  # fmt: skip
    assert format_when(utc_event, BERLIN, "de") == WHEN_DE


def test_time_without_end() -> None:
    """An event without end time shows only its start."""
    open_end = Event("x", "Forum", "Forum 3.12.", 10, datetime(2020, 12, 3, 19, 0, tzinfo=BERLIN))
    assert format_when(open_end, BERLIN, "de") == "Donnerstag, 3. Dezember 2020, 19:00 Uhr"


def test_original_mail_is_never_quoted() -> None:
    """The reply is one text part of our own words: neither the original subject nor a copy of it."""
    msg = on_the_wire(reply(subject="Digitalisierung 08.10. – bitte zwei Plätze für Familie Müller"))
    assert not msg.is_multipart()
    assert msg.get_content_type() == "text/plain"
    text = body(msg)
    assert "bitte zwei Plätze" not in text
    assert ">" not in text


# --- hostile and unusual names and subjects ----------------------------------------------------------------

HOSTILE = [
    pytest.param("Evil\r\nBcc: victim@example.org", id="crlf"),
    pytest.param("Evil\nBcc: victim@example.org", id="lf"),
    pytest.param("Evil\rBcc: victim@example.org", id="cr"),
    pytest.param("Evil\r\n\r\nBody: injected", id="blank-line"),
    pytest.param("Evil\u2028Bcc: victim@example.org", id="line-separator"),
    pytest.param("Evil\x85Bcc: victim@example.org", id="next-line"),
    pytest.param("Evil\x0bBcc: victim@example.org\x0c", id="vertical-tab-form-feed"),
    pytest.param("=?utf-8?q?Evil=0D=0ABcc:_victim@example.org?=", id="encoded-word-crlf"),
    pytest.param("=?utf-8?b?RXZpbA0KQmNjOiB2aWN0aW1AZXhhbXBsZS5vcmc=?=", id="b-encoded-word-crlf"),
    pytest.param('Evil" <victim@example.org>, "x', id="quote-breakout"),
]
EXPECTED_HEADERS = [
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "In-Reply-To",
    "References",
    "Auto-Submitted",
    "X-Auto-Response-Suppress",
    "X-Mailbot-Status",
    "X-Mailbot-Event",
    "Content-Language",
    "Content-Type",
    "Content-Transfer-Encoding",
    "MIME-Version",
]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_display_name_cannot_inject_headers(hostile: str) -> None:
    """A display name with line breaks (also encoded) adds no header and no recipient on the wire."""
    msg = reply(recipient=Address(hostile, "hans@example.org"))
    assert sorted(on_the_wire(msg).keys()) == sorted(EXPECTED_HEADERS)
    assert [addr for _, addr in recipients(msg)] == ["hans@example.org"]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_subject_cannot_inject_headers(hostile: str) -> None:
    """A subject with line breaks (also encoded) adds no header on the wire and stays one line."""
    msg = on_the_wire(reply(subject=hostile))
    assert sorted(msg.keys()) == sorted(EXPECTED_HEADERS)
    assert "\n" not in str(msg["Subject"])
    assert "\r" not in str(msg["Subject"])


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("Müller, Hans", id="comma"),
        pytest.param("Ayşe Yılmaz-Øresund 李小龍", id="non-latin"),
        pytest.param("Prof. Dr. " + "Maximiliane Theodora von und zu " * 8 + "Müller", id="very-long"),
        pytest.param("ä" * 200, id="very-long-non-ascii"),
        pytest.param('Hans "Hansi" Müller (Bürgerverein)', id="quotes-and-parens"),
    ],
)
def test_unusual_names_survive_the_wire(name: str) -> None:
    """Long, non-ASCII and punctuated display names serialise and come back unchanged."""
    assert recipients(reply(recipient=Address(name, "hans@example.org"))) == [(name, "hans@example.org")]


def test_long_non_ascii_subject_survives_the_wire() -> None:
    """A very long non-ASCII subject is folded and encoded, and reads back unchanged."""
    subject = "Anmeldung „Digitalisierung“ 08.10. für Frau Müller-Lüdenscheidt " * 6
    msg = on_the_wire(reply(subject=subject))
    assert str(msg["Subject"]) == "Re: " + " ".join(subject.split())


def test_a_huge_subject_is_cut_and_folded() -> None:
    """A 50,000-character subject comes back cut after 1,000 characters ("…"), in lines of at most 998."""
    msg = reply(subject="Digitalisierung " + "x" * 50_000)
    data = msg.as_bytes()
    assert max(len(line) for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")) <= 998
    subject = str(on_the_wire(msg)["Subject"])
    assert subject == "Re: Digitalisierung " + "x" * (1000 - len("Digitalisierung ") - 1) + "…"


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param("<" + "a" * 50_000 + "@example.org>", id="too-long-for-a-line"),
        pytest.param("<jörg@bürger.de>", id="non-ascii"),
        pytest.param("<=?utf-8?q?x?=@example.org>", id="encoded-word"),
    ],
)
def test_a_message_id_that_cannot_go_on_a_line_as_it_is_is_left_out(bad: str) -> None:
    """A msg-id can't be folded or encoded (RFC 5322 §3.6.4): as the original's Message-ID the reply has
    no In-Reply-To/References; among the references it alone is dropped."""
    msg = on_the_wire(reply(message_id=bad))
    assert msg["In-Reply-To"] is None
    assert msg["References"] is None
    msg = on_the_wire(reply(references=("<r1@x.example>", bad)))
    assert msg["References"].split() == ["<r1@x.example>", "<CAF4711@mail.example.org>"]
    long_ok = "<" + "b" * 900 + "@example.org>"
    msg = on_the_wire(reply(message_id=long_ok))
    assert msg["In-Reply-To"] == long_ok


def test_a_huge_display_name_is_cut_in_the_header() -> None:
    """A 50,000-character sender name is cut to 1,000 characters in the To header."""
    name = "Hans " + "y" * 50_000
    ((written, address),) = recipients(reply(recipient=Address(name, "hans@example.org")))
    assert address == "hans@example.org"
    assert written == name[:999] + "…"
