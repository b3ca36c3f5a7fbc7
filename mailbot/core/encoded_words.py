"""RFC 2047 encoded-words split out of a header value in one pass (email.header.decode_header's result)."""

from __future__ import annotations

import binascii
import email.base64mime
import email.quoprimime
from collections.abc import Iterator

_Word = tuple[str, str | None, str | None]  # (text, encoding "q"/"b" or None, charset or None)


def decode_header(header: str) -> list[tuple[str | bytes, str | None]]:
    """(chunk, charset) pairs as email.header.decode_header gives them; ValueError for broken base64.

    Without any encoded-word: ``[(header, None)]``. Otherwise consecutive chunks of one charset are joined
    (plain chunks with a space between lines), and whitespace between two encoded-words is dropped
    (RFC 2047 §6.2).
    """
    words: list[_Word] = []
    found = False
    for line in header.splitlines():
        first = True
        pos = 0
        for start, end, charset, encoding, encoded in _encoded_words(line):
            found = True
            words.extend(_plain(line[pos:start], first=first))
            first = False
            words.append((encoded, encoding.lower(), charset.lower()))
            pos = end
        words.extend(_plain(line[pos:], first=first))
    if not found:
        return [(header, None)]
    dropped = {
        n - 1 for n in range(2, len(words)) if words[n][1] and words[n - 2][1] and words[n - 1][0].isspace()
    }
    return _collapse(_decoded(word) for n, word in enumerate(words) if n not in dropped)


def _plain(text: str, *, first: bool) -> list[_Word]:
    """The text before, between or after encoded-words; a line's first chunk loses its leading blanks."""
    if first:
        text = text.lstrip()
    return [(text, None, None)] if text else []


def _encoded_words(line: str) -> Iterator[tuple[int, int, str, str, str]]:
    """(start, end, charset, encoding, encoded text) of each ``=?charset?q|b?text?=``, leftmost first.

    What decode_header's pattern finds: the charset runs to the next "?", the text to the next "?=".
    A start whose charset isn't followed by "?q?"/"?b?" is skipped; once no "?=" follows, none can.
    """
    at = line.find("=?")
    while at >= 0:
        mark = line.find("?", at + 2)
        if mark < 0:
            return
        if line[mark + 1 : mark + 2] in ("q", "Q", "b", "B") and line[mark + 2 : mark + 3] == "?":
            end = line.find("?=", mark + 3)
            if end < 0:
                return
            yield at, end + 2, line[at + 2 : mark], line[mark + 1], line[mark + 3 : end]
            at = line.find("=?", end + 2)
        else:
            at = line.find("=?", at + 1)


def _decoded(word: _Word) -> tuple[str | bytes, str | None]:
    text, encoding, charset = word
    if encoding is None:
        return text, charset
    if encoding == "q":
        return email.quoprimime.header_decode(text), charset
    text += "==="[: (4 - len(text) % 4) % 4]  # missing padding, as decode_header allows
    try:
        return email.base64mime.decode(text), charset
    except binascii.Error as exc:
        raise ValueError("Base64 decoding error") from exc


def _collapse(words: Iterator[tuple[str | bytes, str | None]]) -> list[tuple[str | bytes, str | None]]:
    """Runs of one charset joined into one bytes chunk (plain chunks with a space between them)."""
    collapsed: list[tuple[str | bytes, str | None]] = []
    run: list[bytes] = []
    run_charset: str | None = None
    for word, charset in words:
        data = word.encode("raw-unicode-escape") if isinstance(word, str) else word
        if run and charset != run_charset:
            collapsed.append(((b" " if run_charset is None else b"").join(run), run_charset))
            run = []
        run.append(data)
        run_charset = charset
    collapsed.append(((b" " if run_charset is None else b"").join(run), run_charset))
    return collapsed
