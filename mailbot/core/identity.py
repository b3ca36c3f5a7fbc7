"""A mail's identity beyond its IMAP UID: Message-ID plus a content hash (RFC 7352 duplicate practice).

When a folder is recreated or restored (new UIDVALIDITY), or staff move a handled mail back into the folder
(new UID), the same mail must not be processed twice. The hash covers what a restore or a move keeps: the body
and the From, To, Subject, Date and Message-ID headers; trace headers a server may add (Received, Return-Path,
Delivered-To, X-...) are left out, so the same mail hashes the same wherever it lies.
"""

from __future__ import annotations

import hashlib
import re

_KEPT = (b"from", b"to", b"subject", b"date", b"message-id")
_FOLD = re.compile(rb"\n[ \t]+")  # after CRLF -> LF: a pattern that starts with a literal is found fast


def content_hash(raw: bytes) -> str:
    """SHA-256 (hex) of the identifying headers and the body; stable across IMAP copies and restores."""
    head, body = _split(raw)
    head = _FOLD.sub(b" ", head.replace(b"\r\n", b"\n"))
    digest = hashlib.sha256()
    fields: dict[bytes, bytes] = {}
    for line in head.splitlines():
        name, sep, value = line.partition(b":")
        key = name.strip().lower()
        if sep and key in _KEPT and key not in fields:
            fields[key] = b" ".join(value.split())
    for key in _KEPT:
        digest.update(key + b":" + fields.get(key, b"") + b"\n")
    digest.update(b"\n" + body.replace(b"\r\n", b"\n").rstrip())
    return digest.hexdigest()


def _split(raw: bytes) -> tuple[bytes, bytes]:
    """Header and body, split at the first blank line (\\n or \\r\\n line ends, mixed too)."""
    ends = [i for i in (raw.find(b"\n\n"), raw.find(b"\n\r\n")) if i >= 0]
    if not ends:
        return raw, b""
    start = min(ends)
    length = 3 if raw.startswith(b"\n\r\n", start) else 2
    if start > 0 and raw[start - 1 : start] == b"\r":
        start, length = start - 1, length + 1
    return raw[:start], raw[start + length :]
