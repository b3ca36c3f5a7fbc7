"""Finding an event's keyword in what people write: exact on words and date, tolerant of form."""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata
from collections.abc import Iterable, Iterator

BODY_LINES = 10

_DATE_TOKEN = re.compile(r"^(\d{1,2})\.\s*(\d{1,2})\.?(?:\s*(\d{2}|\d{4}))?$")
_SEPARATOR = r"[\s\"'„“”‚‘’«»:,\-‐‑‒–—]*"
# After casefold() "ß" is already "ss"; the other umlauts are written out the same way on both sides.
_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue"})
_DASHES = str.maketrans(dict.fromkeys("‐‑‒–—―−", "-"))

# Lines where quoted text starts: everything after them is someone else's words. No quantifier here may
# range over the whole line more than once: "Am x schrieb x schrieb ..." must cost one scan of the line,
# not one per "schrieb" (see _quote_header). The "Am ... schrieb ...:" and "On ... wrote:" kinds are read
# in code: their pattern (".+ schrieb .*:$") backtracks once per "schrieb" over the rest of the line.
_QUOTE_HEADER = re.compile(
    r"\s*(?:"
    r"-{2,}\s*(?:ursprüngliche nachricht|original message|weitergeleitete nachricht|"
    r"forwarded message)\s*-{2,}"
    r"|(?:von|from):\s.+@"
    r")",
    re.IGNORECASE,
)
_WROTE = re.compile(r"\s(?:schrieb|geschrieben)\b", re.IGNORECASE)


def _quote_header(line: str) -> bool:
    """A line that starts quoted text, in one pass over it.

    "Am <date> schrieb <name>:" / "Am <date> hat <name> geschrieben:" (German mail programs),
    "On <date>, <name> wrote:" (English ones), "----- Original Message -----" and its kin, and
    "Von: <name> <address>" / "From: ..." (Outlook).
    """
    text = line.strip()
    if text.endswith(":"):
        start = text[:2].lower()
        if start == "am" and text[2:3].isspace() and _WROTE.search(text, 4, len(text) - 1):
            return True
        on = start == "on" and text[2:3].isspace() and len(text) >= 11 and text[-7].isspace()
        if on and text[-6:].lower() == "wrote:":
            return True
    return _QUOTE_HEADER.match(line) is not None


def normalize(text: str) -> str:
    """NFKC (folds Unicode spaces and compatibility forms), unified dashes, case-folded."""
    return unicodedata.normalize("NFKC", text).translate(_DASHES).casefold()


def _date_pattern(day: int, month: int) -> str:
    # (?<!\d) and (?!\d) keep 8.10 from matching inside 18.10 or 8.100; the optional tail allows a year.
    return rf"(?<!\d)0?{day}\s*\.\s*0?{month}(?:\s*\.(?:\s*(?:\d{{4}}|\d{{2}}))?|\s+\d{{4}})?(?![\d])"


def fold(text: str) -> str:
    """What the keyword matcher compares: normalize() with ä/ö/ü/ß written out (ae/oe/ue/ss)."""
    return normalize(text).translate(_UMLAUTS)


def canonical(keyword: str) -> tuple[str, ...]:
    """The keyword as the matcher sees it: folded words and ``d.m.`` dates; two keywords alike match alike."""
    parts: list[str] = []
    for token in fold(keyword).split():
        date = _DATE_TOKEN.match(token)
        if date:
            parts.append(f"{int(date.group(1))}.{int(date.group(2))}.")
        else:
            stripped = token.strip("\"'„“”‚‘’«»")
            if stripped:
                parts.append(stripped)
    return tuple(parts)


def compile_keyword(keyword: str) -> re.Pattern[str]:
    """The pattern for one keyword, to search in folded text (see fold())."""
    parts: list[str] = []
    for token in canonical(keyword):
        date = _DATE_TOKEN.match(token)
        parts.append(_date_pattern(int(date.group(1)), int(date.group(2))) if date else re.escape(token))
    if not parts:
        raise ValueError("empty keyword")
    pattern = _SEPARATOR.join(parts)
    # A word at the start must not be the tail of a longer word ("Bürgerdigitalisierung").
    return re.compile(r"(?<!\w)" + pattern)


def contains(outer: tuple[str, ...], inner: tuple[str, ...]) -> bool:
    """Whether `inner` is a run of `outer`'s parts (canonical keywords): a mail naming outer names inner."""
    size = len(inner)
    return 0 < size <= len(outer) and any(outer[i : i + size] == inner for i in range(len(outer) - size + 1))


# Texts up to this many characters are cached (the rules, the keyword and the intent all read one mail's own
# words); a longer one is worked out each time: 16 cached 9 MB bodies would keep ~300 MB after their mails.
_CACHED_CHARS = 64 * 1024


def own_text(text: str) -> str:
    """The sender's own words: quoted lines ('>') and everything after a quote header removed."""
    return _own_text_cached(text) if len(text) <= _CACHED_CHARS else _own_text(text)


@functools.lru_cache(maxsize=16)
def _own_text_cached(text: str) -> str:
    return _own_text(text)


def _own_text(text: str) -> str:
    return "\n".join(_own_lines(text.splitlines()))


def _own_lines(lines: list[str]) -> Iterator[str]:
    """The sender's own lines, one by one (a caller that needs the first few stops early)."""
    for index, line in enumerate(lines):
        if not line or line.isspace():
            yield line  # no quote header starts here, and nothing is quoted
            continue
        if _quote_header(line) or _header_block_starts(lines, index):
            return
        if line.lstrip().startswith(">"):
            continue
        yield line


_QUOTED_FROM = re.compile(r"^\s*(von|from):\s*\S", re.IGNORECASE)
_QUOTED_NEXT = re.compile(r"^\s*(gesendet|sent|datum|date|an|to|betreff|subject):", re.IGNORECASE)


def _header_block_starts(lines: list[str], index: int) -> bool:
    """An Outlook quote header without an address: "Von: Name" followed by "Gesendet:"/"Sent:"/"An:"."""
    if not _QUOTED_FROM.match(lines[index]):
        return False
    following = [line for line in lines[index + 1 : index + 3] if line.strip()]
    return bool(following) and bool(_QUOTED_NEXT.match(following[0]))


def first_lines(text: str, count: int = BODY_LINES) -> str:
    """The first `count` non-empty lines of the sender's own text, joined by newlines."""
    return _first_lines_cached(text, count) if len(text) <= _CACHED_CHARS else _first_lines(text, count)


@functools.lru_cache(maxsize=16)
def _first_lines_cached(text: str, count: int) -> str:
    return _first_lines(text, count)


def _first_lines(text: str, count: int) -> str:
    own = (line for line in _own_lines(text.splitlines()) if line.strip())
    return "\n".join(itertools.islice(own, count))


def mentions(pattern: re.Pattern[str], subject: str, text: str) -> str | None:
    """Where the keyword is named ("subject" or "body"), or None."""
    if pattern.search(fold(subject)):
        return "subject"
    if pattern.search(fold(first_lines(text))):
        return "body"
    return None


def matching(
    patterns: Iterable[tuple[str, re.Pattern[str]]], subject: str, text: str
) -> list[tuple[str, str]]:
    """(key, where) for each (key, pattern) the message names."""
    found = []
    for key, pattern in patterns:
        where = mentions(pattern, subject, text)
        if where:
            found.append((key, where))
    return found
