"""A mail's content hash: the same mail hashes the same after copies and restores, other mails don't."""

from __future__ import annotations

from mailbot.core.identity import content_hash

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
