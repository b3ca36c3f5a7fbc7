"""The MIME writer of the desk's own mails: what it writes reads back unchanged and is 7-bit clean."""

from __future__ import annotations

import email
import email.policy
from email.header import Header
from email.message import EmailMessage

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbot.core.mime import Attachment, Mail, encode_words
from mailbot.core.parse import decode_header_value


def text_of(part: EmailMessage) -> str:
    """A text part's content as a mail client shows it (line ends as newlines)."""
    content = part.get_content()
    assert isinstance(content, str)
    return content.replace("\r\n", "\n")


def parsed(mail: Mail) -> EmailMessage:
    """The mail as a receiving client sees it."""
    msg = email.message_from_bytes(mail.as_bytes(), policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def mail(text: str, *, name: str = "Hans", sender: tuple[str, str] = ("Stadt", "desk@example.org")) -> Mail:
    """A small mail with the given text, recipient name and sender."""
    return Mail(
        "hans@example.org",
        "<m1@example.org>",
        [("From", sender), ("To", (name, "hans@example.org")), ("Subject", "Anmeldung – bestätigt")],
        text,
        language="de",
    )


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("Guten Tag,\nbis bald.\n", id="ascii"),
        pytest.param("Grüße aus Castrop-Rauxel\n", id="umlauts"),
        pytest.param("https://zoom.example/j/" + "1234567890" * 30 + "\n", id="very-long-line"),
        pytest.param("trailing spaces   \nand a tab\t\n.\nFrom here\n", id="whitespace-dot-from"),
        pytest.param("no newline at the end", id="no-final-newline"),
    ],
)
def test_text_reads_back_unchanged(text: str) -> None:
    """The text part decodes to exactly the text given (with a final newline)."""
    expected = text if text.endswith("\n") else text + "\n"
    assert text_of(parsed(mail(text))) == expected


def test_every_line_is_7bit_and_short() -> None:
    """Non-ASCII names, subjects, long lines and an attachment: all lines ASCII and at most 78 characters."""
    big = mail("Zugangsdaten: " + "ü" * 500 + "\n", name="Ä" * 200)
    big.attachments.append(Attachment(b"BEGIN:VCALENDAR\r\n" * 40, "text", "calendar", "x.ics"))
    raw = big.as_bytes()
    assert raw.isascii()
    assert max(len(line) for line in raw.split(b"\r\n")) <= 78
    assert b"\n" not in raw.replace(b"\r\n", b"")


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("Stadt Castrop-Rauxel", id="plain"),
        pytest.param("Stadt Castrop-Rauxel – Bürgerdialog", id="non-ascii"),
        pytest.param('Stadt "Castrop", Rauxel\\Amt', id="specials"),
    ],
)
def test_sender_name_reads_back_unchanged(name: str) -> None:
    """The From display name comes back as configured, with the address."""
    raw = email.message_from_bytes(
        mail("x\n", sender=(name, "desk@example.org")).as_bytes(), policy=email.policy.compat32
    )
    got_name, address = email.utils.parseaddr(str(raw["From"]))
    assert (decode_header_value(got_name), address) == (name, "desk@example.org")


def test_attachment_follows_the_text() -> None:
    """With an attachment: multipart/mixed, the text first, then the file with its type, name and bytes."""
    data = "BEGIN:VCALENDAR\r\nSUMMARY:Bürgerdialog\r\nEND:VCALENDAR\r\n".encode()
    message = mail("Hallo\n")
    message.attachments.append(Attachment(data, "text", "calendar", "v.ics", (("method", "PUBLISH"),)))
    wire = parsed(message)
    assert wire.get_content_type() == "multipart/mixed"
    text, file = wire.iter_parts()
    assert text_of(text) == "Hallo\n"
    assert text["Content-Language"] == "de"
    assert file.get_content_type() == "text/calendar"
    assert file.get_param("method") == "PUBLISH"
    assert file.get_filename() == "v.ics"
    assert file.get_payload(decode=True) == data


def test_header_lookup_gives_the_values_as_set() -> None:
    """mail["Subject"] and mail["To"] give the unencoded values; a missing header is None."""
    message = mail("x\n", name="Hans Müller")
    assert message["subject"] == "Anmeldung – bestätigt"
    assert message["To"] == "Hans Müller <hans@example.org>"
    assert message["Cc"] is None


@settings(max_examples=300)
@given(value=st.text(alphabet=st.sampled_from('aZ09 äöüßÄ–„“é😀=?_-!*+/"()<>,;:@.'), min_size=1, max_size=60))
def test_a_short_value_is_encoded_as_the_email_package_would(value: str) -> None:
    """A non-ASCII value that fits one line is written as Header writes it (one word, Q or B, the shorter)."""
    ours = encode_words(value, "Subject")
    theirs = Header(value, "utf-8", header_name="Subject").encode(linesep="\r\n")
    if value.isascii() or "\r\n" in theirs or len("Subject: ") + len(theirs) > 78:
        return  # folded by the email package: written by it too
    assert ours == theirs
    assert decode_header_value(ours) == " ".join(value.split())


@settings(max_examples=200)
@given(
    words=st.lists(
        st.sampled_from(["Re:", "Anmeldung", "08.10.", "<a1b2c3d4e5@mail.example.org>", ""]), max_size=40
    )
)
def test_a_long_ascii_value_is_folded_at_blanks_and_unfolds_to_itself(words: list[str]) -> None:
    """Long ASCII header values fold before blanks (lines within 78 where a blank allows) and unfold back."""
    value = " ".join(words)
    folded = encode_words(value, "References")
    assert folded.replace("\r\n", "") == value
    for number, line in enumerate(folded.split("\r\n")):
        width = len(line.rstrip()) + (len("References: ") if number == 0 else 0)
        assert width <= 78 or " " not in line.strip()
        assert number == 0 or line.strip()


def header_lines(data: bytes) -> list[bytes]:
    """The physical lines of a single-part mail's header block."""
    return data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")


@settings(max_examples=100)
@given(
    value=st.text(alphabet=st.sampled_from("xä =?<>@."), min_size=900, max_size=3000),
    name=st.sampled_from(["Subject", "X-Long-Header-Name-For-Testing", "References"]),
)
def test_every_header_line_stays_within_998_octets(value: str, name: str) -> None:
    """Whatever the text (long words without blanks too), no header line exceeds 998 octets (RFC 5322
    §2.1.1), and the value decodes back to itself (blanks collapsed)."""
    written = Mail("hans@example.org", "<m1@example.org>", [(name, value)], "x\n").as_bytes()
    assert max(len(line) for line in header_lines(written)) <= 998
    assert decode_header_value(f"{name}: {encode_words(value, name)}".split(": ", 1)[1]) == " ".join(
        value.split()
    )


def test_a_50000_character_word_is_split_into_encoded_words() -> None:
    """A 50,000-character subject without a blank can't be folded at one: encoded-words (RFC 2047) split it,
    within 78 characters a line, and it reads back unchanged."""
    message = Mail("h@example.org", "<m1@example.org>", [("Subject", "x" * 50_000)], "x\n")
    assert max(len(line) for line in header_lines(message.as_bytes())) <= 78
    assert str(parsed(message)["Subject"]) == "x" * 50_000


def test_an_address_with_a_utf8_local_part_is_written_in_utf8() -> None:
    """A non-ASCII local part is written as UTF-8 (RFC 6532); the name is still RFC 2047-encoded; a mail
    with ASCII addresses stays 7-bit."""
    message = Mail("jörg@bürger.de", "<m1@example.org>", [("To", ("Jörg", "jörg@bürger.de"))], "x\n")
    data = message.as_bytes()
    assert "To: =?utf-8?b?SsO2cmc=?= <jörg@bürger.de>".encode() in data
    read = email.message_from_string(data.decode("utf-8"), policy=email.policy.SMTPUTF8)
    assert (read["To"].addresses[0].display_name, read["To"].addresses[0].addr_spec) == (
        "Jörg",
        "jörg@bürger.de",
    )
    assert mail("ä\n", name="Jörg").as_bytes().isascii()
