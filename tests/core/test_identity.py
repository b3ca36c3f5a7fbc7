"""A mail's identity: the same mail hashes the same after copies and restores (re-encoded too)."""

from __future__ import annotations

import base64
import email
import email.policy
import quopri

from mailbot.core.identity import content_hash
from mailbot.core.parse import parse_message

MAIL = (
    b"Return-Path: <anna@example.org>\r\nReceived: from mx1 by imap1\r\nFrom: Anna <anna@example.org>\r\n"
    b"To: desk@example.org\r\nSubject: Digitalisierung\r\n 08.10.\r\n"
    b"Date: Mon, 21 Sep 2020 10:00:00 +0200\r\n"
    b"Message-ID: <a1@example.org>\r\n\r\nIch melde mich an.\r\n"
)


def test_trace_headers_and_line_endings_do_not_change_the_hash() -> None:
    """Added Received/Delivered-To headers, LF line endings and refolding keep the hash."""
    copy = b"Delivered-To: desk@example.org\r\nReceived: from backup\r\n" + MAIL
    lf = MAIL.replace(b"\r\n", b"\n").replace(b"Digitalisierung\n 08.10.", b"Digitalisierung 08.10.")
    assert content_hash(copy) == content_hash(MAIL) == content_hash(lf)


def test_another_body_sender_or_message_id_changes_the_hash() -> None:
    """A different body, sender or Message-ID is a different mail."""
    assert content_hash(MAIL.replace(b"an.", b"ab.")) != content_hash(MAIL)
    assert content_hash(MAIL.replace(b"Anna <anna", b"Bert <bert")) != content_hash(MAIL)
    assert content_hash(MAIL.replace(b"<a1@", b"<a2@")) != content_hash(MAIL)


def test_any_bytes_hash() -> None:
    """Headerless or empty input still hashes (the hash never raises)."""
    assert len(content_hash(b"")) == 64
    assert len(content_hash(b"\xff\xfe no headers")) == 64


def test_the_hash_is_the_one_earlier_versions_stored() -> None:
    """The hash of a known mail is unchanged: hashes already in a ledger still recognise their mails."""
    assert content_hash(MAIL) == "700227fa9910b73c2c4b6d8f27815f18afe0a86c82b5e63376211a1b57eb3062"


def reencode(raw: bytes, encoding: str) -> bytes:
    """The mail as a restore that re-encodes bodies gives it back: every 8bit part of it as `encoding`
    ("quoted-printable" or "base64"), the headers left as they were."""
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    for part in msg.walk():
        if part.is_multipart() or str(part.get("Content-Transfer-Encoding", "")).lower() != "8bit":
            continue
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        if encoding == "base64":
            encoded = base64.encodebytes(payload)
        else:
            encoded = quopri.encodestring(payload.replace(b"\r\n", b"\n"))
        del part["Content-Transfer-Encoding"]
        part["Content-Transfer-Encoding"] = encoding
        part.set_payload(encoded.decode("ascii"))
    return msg.as_bytes(policy=email.policy.compat32.clone(linesep="\r\n"))


EIGHT_BIT = (
    "From: =?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <juergen@example.org>\r\nTo: desk@example.org\r\n"
    "Subject: Anmeldung Digitalisierung 08.10.\r\nDate: Mon, 21 Sep 2020 10:00:00 +0200\r\n"
    "Message-ID: <j1@example.org>\r\nMIME-Version: 1.0\r\n"
    'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
    "--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    "Hiermit melde ich mich an.  \r\nMit freundlichen Grüßen\r\nJürgen Müller\r\n"
    "--b1\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    "<p>Hiermit melde ich mich an.</p><p>Grüße, Jürgen</p>\r\n"
    "--b1\r\nContent-Type: application/pdf; name=a.pdf\r\nContent-Disposition: attachment; filename=a.pdf\r\n"
    "Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJcOkw7zDtsOfCg==\r\n"
    "--b1--\r\n"
).encode()


def test_a_re_encoded_restore_keeps_the_decoded_hash() -> None:
    """8bit parts re-encoded as quoted-printable or base64 (a restore's downgrade) change the content hash
    but not the decoded hash; the decoded hash is the same however the body was written."""
    original = parse_message(EIGHT_BIT).decoded_hash
    assert original is not None
    for encoding in ("quoted-printable", "base64"):
        restored = reencode(EIGHT_BIT, encoding)
        assert b"Gr=C3=BC=C3=9Fe" in restored or encoding == "base64"
        assert content_hash(restored) != content_hash(EIGHT_BIT)
        assert parse_message(restored).decoded_hash == original
    lf = EIGHT_BIT.replace(b"\r\n", b"\n").replace(b"an.  \n", b"an.\n")  # line ends, trailing blanks
    assert parse_message(lf).decoded_hash == original


def test_the_decoded_hash_tells_other_mails_apart() -> None:
    """Another text, attachment, sender, Message-ID, subject or date gives another decoded hash."""
    original = parse_message(EIGHT_BIT).decoded_hash
    for old, new in (
        (b"an.  \r\n", b"ab.  \r\n"),
        (b"JVBERi0xLjQKJcOkw7zDtsOfCg==", b"JVBERi0xLjQKJcOkw7zDtsOfDg=="),
        (b"<juergen@example.org>", b"<juergen@example.com>"),
        (b"<j1@example.org>", b"<j2@example.org>"),
        (b"Subject: Anmeldung", b"Subject: Abmeldung"),
        (b"10:00:00", b"10:00:01"),
    ):
        assert EIGHT_BIT.count(old) == 1
        assert parse_message(EIGHT_BIT.replace(old, new)).decoded_hash != original
