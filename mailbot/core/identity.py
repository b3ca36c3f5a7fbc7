"""A mail's identity beyond its IMAP UID: Message-ID plus a content hash (RFC 7352 duplicate practice).

When a folder is recreated or restored (new UIDVALIDITY), or staff move a handled mail back into the folder
(new UID), the same mail must not be processed twice. The hash covers what a restore or a move keeps: the body
and the From, To, Subject, Date and Message-ID headers; trace headers a server may add (Received, Return-Path,
Delivered-To, X-...) are left out, so the same mail hashes the same wherever it lies.
"""

from __future__ import annotations

import hashlib
import re

_KEPT = ("from", "to", "subject", "date", "message-id")
_SPLIT = re.compile(rb"\r?\n\r?\n")
_FOLD = re.compile(rb"\r?\n[ \t]+")


def content_hash(raw: bytes) -> str:
    """SHA-256 (hex) of the identifying headers and the body; stable across IMAP copies and restores."""
    parts = _SPLIT.split(raw, maxsplit=1)
    head = _FOLD.sub(b" ", parts[0])
    body = parts[1] if len(parts) > 1 else b""
    digest = hashlib.sha256()
    fields: dict[str, bytes] = {}
    for line in head.splitlines():
        name, sep, value = line.partition(b":")
        key = name.strip().lower().decode("ascii", "replace")
        if sep and key in _KEPT and key not in fields:
            fields[key] = b" ".join(value.split())
    for key in _KEPT:
        digest.update(key.encode() + b":" + fields.get(key, b"") + b"\n")
    digest.update(b"\n" + body.replace(b"\r\n", b"\n").rstrip())
    return digest.hexdigest()
