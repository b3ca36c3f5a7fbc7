"""A mail's identity beyond its IMAP UID: two hashes of what a move or a restore keeps (RFC 7352 practice)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

_KEPT = (b"from", b"to", b"subject", b"date", b"message-id")
_KEPT_NAMES = tuple(name.decode() for name in _KEPT)
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


def decoded_hash(headers: Iterable[tuple[str, str]], parts: Iterable[bytes]) -> str:
    """SHA-256 (hex) of the identifying headers' decoded values and every part's decoded content.

    `headers`: (lower-case name, decoded value) in order, the first of each name counts; `parts`: each leaf
    part's content with its transfer encoding undone. Line ends and the white space ending a line or a part
    don't count: a quoted-printable encoder may drop trailing blanks (RFC 2045 §6.7), base64 text has CRLF.
    """
    fields: dict[str, str] = {}
    for name, value in headers:
        if name in _KEPT_NAMES and name not in fields:
            fields[name] = " ".join(value.split())
    digest = hashlib.sha256(b"decoded\n")
    for name in _KEPT_NAMES:
        digest.update(f"{name}:{fields.get(name, '')}\n".encode("utf-8", "surrogatepass"))
    for part in parts:
        text = part.replace(b"\r\n", b"\n")
        if b" \n" in text or b"\t\n" in text or b"\r" in text:  # else no line has anything to drop
            text = b"\n".join(line.rstrip(b" \t\r") for line in text.split(b"\n"))
        digest.update(b"\n--part--\n" + text.rstrip(b" \t\r\n"))
    return digest.hexdigest()
