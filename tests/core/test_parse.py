"""Parsing: any bytes become an InboundMessage (or a MessageParseError), whatever charset or MIME shape."""

from __future__ import annotations

import base64

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailbot.core.model import Address
from mailbot.core.parse import MessageParseError, parse_message


def mail(*headers: str | bytes, body: str | bytes = b"Hallo\r\n") -> bytes:
    """A raw message from header lines (str is UTF-8) and a body, CRLF line endings."""
    head = b"\r\n".join(h if isinstance(h, bytes) else h.encode("utf-8") for h in headers)
    data = body if isinstance(body, bytes) else body.replace("\n", "\r\n").encode("utf-8")
    return head + b"\r\n\r\n" + data


def plain(charset: str | None, body: bytes) -> bytes:
    """A text/plain mail with the given (or no) charset parameter."""
    ctype = "Content-Type: text/plain" + (f"; charset={charset}" if charset else "")
    return mail("From: hans@example.org", "Subject: Anmeldung", ctype, body=body)


# --- charsets of the body ----------------------------------------------------------------------------------

CHARSETS = [
    pytest.param("utf-8", "Grüße aus Köln €".encode(), "Grüße aus Köln €", id="utf-8"),
    pytest.param('"UTF-8"', "Grüße".encode(), "Grüße", id="quoted-upper-case-name"),
    pytest.param("iso-8859-1", "Grüße aus Köln".encode("latin-1"), "Grüße aus Köln", id="iso-8859-1"),
    pytest.param("iso-8859-15", b"\xa4 5 Eintritt", "€ 5 Eintritt", id="iso-8859-15-euro"),
    pytest.param("windows-1252", b"\x84Digitalisierung\x93 \x80", "„Digitalisierung“ €", id="windows-1252"),
    pytest.param(None, "Grüße €".encode(), "Grüße €", id="undeclared-utf-8"),
    pytest.param(None, b"Gr\xfc\xdfe \x84x\x93", "Grüße „x“", id="undeclared-8-bit-as-windows-1252"),
    pytest.param("x-unknown-charset", "Grüße".encode(), "Grüße", id="unknown-name-utf-8-fallback"),
    pytest.param("x-unknown-charset", b"M\xfcller", "Müller", id="unknown-name-8-bit-fallback"),
    pytest.param("unknown-8bit", b"M\xfcller", "Müller", id="unknown-8bit-alias"),
    pytest.param("utf-8", b"M\xfcller", "M\ufffdller", id="wrong-declaration-replaced"),
    pytest.param("idna", b"M\xfcller", "Müller", id="codec-that-is-no-mail-charset"),
    pytest.param("punycode", b"M\xfcller\\", "Müller\\", id="codec-that-refuses-errors"),
    pytest.param("undefined", b"M\xfcller", "Müller", id="undefined-codec"),
]


@pytest.mark.parametrize(("charset", "body", "expected"), CHARSETS)
def test_body_charsets(charset: str | None, body: bytes, expected: str) -> None:
    """Declared, undeclared, unknown and wrong charsets all decode to text without raising."""
    assert parse_message(plain(charset, body)).text == expected


def test_charset_name_with_nul_falls_back() -> None:
    """A charset parameter with a NUL in it is treated as unknown, not as an error."""
    raw = mail("From: hans@example.org", b'Content-Type: text/plain; charset="utf-8\x00"', body=b"M\xfcller")
    assert parse_message(raw).text == "Müller"


# --- headers ------------------------------------------------------------------------------------------------

SUBJECTS = [
    pytest.param(b"Anmeldung Digitalisierung 08.10.", "Anmeldung Digitalisierung 08.10.", id="ascii"),
    pytest.param(b"=?utf-8?q?Anmeldung_B=C3=BCrgerbudget?=", "Anmeldung Bürgerbudget", id="q-utf-8"),
    pytest.param(b"=?UTF-8?Q?B=C3=BCrgerbudget?=", "Bürgerbudget", id="upper-case-q"),
    pytest.param(
        b"=?iso-8859-1?b?" + base64.b64encode("Bürgerbudget 12.3".encode("latin-1")) + b"?=",
        "Bürgerbudget 12.3",
        id="b-latin-1",
    ),
    pytest.param(b"=?utf-8?q?B=C3=BCrger?= =?utf-8?q?budget?=", "Bürgerbudget", id="adjacent-words-joined"),
    pytest.param(b"Re: =?utf-8?q?B=C3=BCrgerbudget?= 12.3", "Re: Bürgerbudget 12.3", id="word-between-text"),
    pytest.param(
        b"Anmeldung\r\n Digitalisierung\r\n\t08.10.", "Anmeldung Digitalisierung 08.10.", id="folded"
    ),
    pytest.param("Grüße".encode(), "Grüße", id="raw-utf-8"),
    pytest.param("Grüße".encode("latin-1"), "Grüße", id="raw-latin-1"),
    pytest.param(
        "Größe – =?utf-8?q?Digitalisierung?= 08.10.".encode(),
        "Größe – Digitalisierung 08.10.",
        id="raw-utf-8-beside-encoded-word",
    ),
    pytest.param(
        b"=?utf-8?q?Digitalisierung_08.10.", "=?utf-8?q?Digitalisierung_08.10.", id="unterminated-word"
    ),
    pytest.param(
        b"=?x-unknown?q?Digitalisierung_08.10.?=", "Digitalisierung 08.10.", id="unknown-charset-word"
    ),
    pytest.param(b"=?utf-8?q?M=FCller?=", "M\ufffdller", id="undecodable-bytes-in-word"),
    pytest.param(b"=?idna?q?M=FCller?=", "Müller", id="idna-charset-word"),
]


def test_folded_subject_keeps_the_space_before_an_encoded_word() -> None:
    """A subject folded right before an encoded-word keeps its space (Thunderbird folds like that)."""
    raw = (
        b"From: a@example.org\r\n"
        b"Subject: Anmeldung zur Veranstaltung\r\n =?UTF-8?Q?B=c3=bcrgerbudget_12.3.?=\r\n\r\nx"
    )
    assert parse_message(raw).subject == "Anmeldung zur Veranstaltung Bürgerbudget 12.3."


@pytest.mark.parametrize(("raw_subject", "expected"), SUBJECTS)
def test_subject_decoding(raw_subject: bytes, expected: str) -> None:
    """Subjects are RFC 2047-decoded and unfolded; broken or 8-bit forms still give readable text."""
    msg = parse_message(mail("From: hans@example.org", b"Subject: " + raw_subject))
    assert msg.subject == expected


@pytest.mark.parametrize(
    "raw_subject",
    [
        pytest.param(b"=?utf-8?b?!!!not-base64?=", id="bad-base64"),
        pytest.param(b"=?utf-8?x?unknown-encoding?=", id="unknown-encoding-letter"),
        pytest.param(b"=??q?no-charset?=", id="no-charset"),
        pytest.param(b"=?utf-8?q?=ZZ=?=", id="bad-q-escape"),
        pytest.param(b"=?utf-8*de?q?Sprache?=", id="rfc-2231-language"),
    ],
)
def test_broken_encoded_words_never_raise(raw_subject: bytes) -> None:
    """A broken encoded-word leaves some text in the subject instead of raising."""
    msg = parse_message(mail("From: hans@example.org", b"Subject: " + raw_subject))
    assert isinstance(msg.subject, str)


SENDERS = [
    pytest.param(b"hans@example.org", Address("", "hans@example.org"), id="bare-address"),
    pytest.param(b"<hans@example.org>", Address("", "hans@example.org"), id="angle-brackets-only"),
    pytest.param(b"Hans Mueller <hans@example.org>", Address("Hans Mueller", "hans@example.org"), id="name"),
    pytest.param(
        '"Müller, Hans" <hans@example.org>'.encode(),
        Address("Müller, Hans", "hans@example.org"),
        id="quoted-name-with-comma-raw-utf-8",
    ),
    pytest.param(
        '"Müller, Hans" <hans@example.org>'.encode("latin-1"),
        Address("Müller, Hans", "hans@example.org"),
        id="quoted-name-with-comma-raw-latin-1",
    ),
    pytest.param(
        b"=?utf-8?q?Hans_M=C3=BCller?= <hans@example.org>",
        Address("Hans Müller", "hans@example.org"),
        id="encoded-word-name",
    ),
    pytest.param(
        b"=?utf-8?q?M=C3=BCller=2C_Hans?= <hans@example.org>",
        Address("Müller, Hans", "hans@example.org"),
        id="encoded-word-name-with-comma",
    ),
    pytest.param(
        b"=?iso-8859-1?b?" + base64.b64encode("Müller, Hans".encode("latin-1")) + b"?= <hans@example.org>",
        Address("Müller, Hans", "hans@example.org"),
        id="b-encoded-latin-1-name-with-comma",
    ),
    pytest.param(
        b"hans@example.org (Hans Mueller)", Address("Hans Mueller", "hans@example.org"), id="comment"
    ),
    pytest.param(
        b'"Hans\r\n Mueller" <hans@example.org>', Address("Hans Mueller", "hans@example.org"), id="folded"
    ),
    pytest.param(
        "Müller, Hans <hans@example.org>".encode(),
        Address("Müller, Hans", "hans@example.org"),
        id="unquoted-name-with-comma",
    ),
    pytest.param(b"Hans Mueller", None, id="no-address"),
    pytest.param(b"<>", None, id="empty-address"),
    pytest.param(b"undisclosed-recipients:;", None, id="empty-group"),
]


@pytest.mark.parametrize(("raw_from", "expected"), SENDERS)
def test_sender(raw_from: bytes, expected: Address | None) -> None:
    """The From mailbox is read with its decoded display name; no usable address gives None."""
    msg = parse_message(mail(b"From: " + raw_from, "Subject: Anmeldung"))
    assert msg.sender == expected


def test_missing_from_message_id_and_date() -> None:
    """A mail without From, Message-ID and Date still parses, with None for what is missing."""
    msg = parse_message(mail("Subject: Digitalisierung 08.10."))
    assert (msg.sender, msg.message_id, msg.subject) == (None, None, "Digitalisierung 08.10.")


def test_threading_headers() -> None:
    """Message-ID, In-Reply-To and References are read as message-id tuples, folded or not."""
    msg = parse_message(
        mail(
            "From: hans@example.org",
            "Message-ID: <CAF+4711@mail.example.org>",
            "In-Reply-To: <a1.mailbot@stadt.example> (Anmeldung)",
            "References: <r0@example.org>\r\n <a1.mailbot@stadt.example>",
        )
    )
    assert msg.message_id == "<CAF+4711@mail.example.org>"
    assert msg.in_reply_to == ("<a1.mailbot@stadt.example>",)
    assert msg.references == ("<r0@example.org>", "<a1.mailbot@stadt.example>")


def test_headers_are_kept_in_order_lower_case_and_decoded() -> None:
    """All header fields are kept in order, names lower-case, values decoded; header() finds the first."""
    msg = parse_message(
        mail(
            "Received: from a",
            "Received: from b",
            "X-Note: =?utf-8?q?gr=C3=BC=C3=9Fe?=",
            "From: hans@example.org",
        )
    )
    assert msg.headers == (
        ("received", "from a"),
        ("received", "from b"),
        ("x-note", "grüße"),
        ("from", "hans@example.org"),
    )
    assert msg.header("RECEIVED") == "from a"
    assert msg.header("subject") is None
    assert msg.header_names() == frozenset({"received", "x-note", "from"})


# --- bodies and MIME structure -----------------------------------------------------------------------------


def test_quoted_printable_body() -> None:
    """A quoted-printable body is decoded, soft line breaks joined."""
    raw = mail(
        "From: hans@example.org",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: quoted-printable",
        body="Gr=C3=BC=C3=9Fe, Digitalisie=\nrung 08.10.\n",
    )
    assert parse_message(raw).text == "Grüße, Digitalisierung 08.10.\n"


def test_base64_body() -> None:
    """A base64 body is decoded in its declared charset."""
    encoded = base64.encodebytes("Grüße, Bürgerbudget 12.3.\n".encode("latin-1"))
    raw = mail(
        "From: hans@example.org",
        "Content-Type: text/plain; charset=iso-8859-1",
        "Content-Transfer-Encoding: base64",
        body=encoded,
    )
    assert parse_message(raw).text == "Grüße, Bürgerbudget 12.3.\n"


def test_line_endings_are_normalised() -> None:
    """CRLF in the body becomes LF."""
    assert parse_message(mail("From: hans@example.org", body=b"a\r\nb\r\n")).text == "a\nb\n"


def test_html_only_mail_becomes_text() -> None:
    """An HTML-only mail is converted to its visible text, one line per block; scripts and styles dropped."""
    html = (
        "<html><head><title>Titel</title><style>p { color: red }</style></head><body>"
        "<p>Hallo,</p><div>ich melde mich an: <b>Digitalisierung</b>&nbsp;08.10.</div>"
        "<script>var tracking = 1;</script><p>Gr&uuml;&szlig;e<br>Hans</p></body></html>"
    )
    msg = parse_message(mail("From: hans@example.org", "Content-Type: text/html; charset=utf-8", body=html))
    lines = [line for line in msg.text.splitlines() if line]
    assert msg.content_type == "text/html"
    assert lines == ["Hallo,", "ich melde mich an: Digitalisierung 08.10.", "Grüße", "Hans"]


ALTERNATIVE = """--alt
Content-Type: text/plain; charset=utf-8

{plain}
--alt
Content-Type: text/html; charset=utf-8

<p>Aus dem HTML-Teil</p>
--alt--
"""


def test_alternative_prefers_plain_text() -> None:
    """In multipart/alternative the text/plain part is used."""
    raw = mail(
        "From: hans@example.org",
        'Content-Type: multipart/alternative; boundary="alt"',
        body=ALTERNATIVE.format(plain="Aus dem Text-Teil"),
    )
    msg = parse_message(raw)
    assert (msg.text.strip(), msg.content_type) == ("Aus dem Text-Teil", "text/plain")


def test_alternative_with_empty_plain_uses_html() -> None:
    """An empty text/plain alternative falls back to the HTML part."""
    raw = mail(
        "From: hans@example.org",
        'Content-Type: multipart/alternative; boundary="alt"',
        body=ALTERNATIVE.format(plain="  "),
    )
    msg = parse_message(raw)
    assert (msg.text.strip(), msg.content_type) == ("Aus dem HTML-Teil", "text/html")


NESTED = """--mixed
Content-Type: text/plain; charset=utf-8; name="anmeldung.txt"
Content-Disposition: attachment; filename="anmeldung.txt"

Aus dem Anhang
--mixed
Content-Type: multipart/related; boundary="rel"

--rel
Content-Type: multipart/alternative; boundary="alt"

--alt
Content-Type: text/plain; charset=utf-8

Aus dem Text-Teil
--alt
Content-Type: text/html; charset=utf-8

<p>Aus dem HTML-Teil</p>
--alt--
--rel
Content-Type: image/png
Content-Transfer-Encoding: base64

iVBORw0KGgo=
--rel--
--mixed--
"""


def test_nested_multiparts_and_attachments() -> None:
    """The text part is found in nested multiparts; an attachment before it is skipped."""
    raw = mail("From: hans@example.org", 'Content-Type: multipart/mixed; boundary="mixed"', body=NESTED)
    assert parse_message(raw).text.strip() == "Aus dem Text-Teil"


FORWARD = """--mixed
Content-Type: text/plain; charset=utf-8

Siehe unten.
--mixed
Content-Type: message/rfc822

From: someone@example.org
Subject: Digitalisierung 08.10.

Digitalisierung 08.10.
--mixed--
"""


def test_forwarded_message_is_not_entered() -> None:
    """A forwarded message/rfc822 part is not read as the sender's text."""
    raw = mail("From: hans@example.org", 'Content-Type: multipart/mixed; boundary="mixed"', body=FORWARD)
    assert parse_message(raw).text.strip() == "Siehe unten."


def test_only_a_forwarded_message_gives_empty_text() -> None:
    """A mail that only forwards another has no text of its own."""
    body = FORWARD.replace("--mixed\nContent-Type: text/plain; charset=utf-8\n\nSiehe unten.\n", "", 1)
    raw = mail("From: hans@example.org", 'Content-Type: multipart/mixed; boundary="mixed"', body=body)
    assert parse_message(raw).text == ""


def test_broken_multipart_is_read_and_defects_recorded() -> None:
    """A multipart without its closing boundary is still read; the defect is recorded for admins."""
    raw = mail(
        "From: hans@example.org",
        'Content-Type: multipart/mixed; boundary="b"',
        body="--b\nContent-Type: text/plain\n\nDigitalisierung 08.10.\n",
    )
    msg = parse_message(raw)
    assert msg.text.strip() == "Digitalisierung 08.10."
    assert "CloseBoundaryNotFoundDefect" in msg.defects


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        pytest.param(b"", "empty message", id="empty"),
        pytest.param(b" \r\n\r\n\t", "empty message", id="whitespace"),
        pytest.param(b"Hallo Welt, ich melde mich an.\r\n", "no header fields", id="no-headers"),
    ],
)
def test_parse_error_only_without_headers(raw: bytes, reason: str) -> None:
    """Empty input and input without any header field raise MessageParseError with the reason."""
    with pytest.raises(MessageParseError, match=reason):
        parse_message(raw)


# --- properties ---------------------------------------------------------------------------------------------

SEED = mail(
    "From: =?utf-8?q?M=C3=BCller=2C_Hans?= <hans@example.org>",
    "Subject: =?iso-8859-1?q?Anmeldung_B=FCrgerbudget?= 12.3.",
    "Message-ID: <4711@example.org>",
    'Content-Type: multipart/mixed; boundary="m"',
    body=(
        "--m\nContent-Type: multipart/alternative; boundary=a\n\n--a\n"
        "Content-Type: text/plain; charset=windows-1252\nContent-Transfer-Encoding: quoted-printable\n\n"
        "Digitalisierung 08.10. =E4=84\n--a\nContent-Type: text/html; charset=utf-8\n"
        "Content-Transfer-Encoding: base64\n\nPGI+RGlnaXRhbGlzaWVydW5nPC9iPiAwOC4xMC4=\n--a--\n"
        "--m\nContent-Type: message/rfc822\n\nSubject: x\n\ny\n--m--\n"
    ),
)

FRAGMENTS = [
    *"From:Subject=?<>@\"',;.-_ \r\n\t\x00\udcffÄü",
    "=?utf-8?q?",
    "=?iso-8859-1?b?",
    "?=",
    "Content-Type: ",
    "multipart/mixed; boundary=b",
    "text/html; charset=",
    "Content-Transfer-Encoding: base64",
    "--b",
]
MAILISH = st.lists(st.sampled_from(FRAGMENTS), max_size=120).map(
    lambda parts: "".join(parts).encode("utf-8", "surrogateescape")
)


@st.composite
def mutated_seed(draw: st.DrawFn) -> bytes:
    """The seed mail with a few bytes deleted, inserted or overwritten."""
    raw = bytearray(SEED)
    for _ in range(draw(st.integers(1, 8))):
        at = draw(st.integers(0, len(raw) - 1))
        op = draw(st.sampled_from(["delete", "insert", "overwrite"]))
        if op == "delete":
            del raw[at]
        elif op == "insert":
            raw[at:at] = draw(st.binary(min_size=1, max_size=8))
        else:
            raw[at] = draw(st.integers(0, 255))
    return bytes(raw)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=500) | MAILISH | mutated_seed())
def test_parse_never_raises_anything_else(raw: bytes) -> None:
    """On arbitrary or mutated bytes, parse_message returns a message or raises MessageParseError only."""
    try:
        msg = parse_message(raw)
    except MessageParseError:
        return
    assert isinstance(msg.text, str)
    assert isinstance(msg.subject, str)
