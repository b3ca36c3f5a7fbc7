"""The visible text of an HTML body in one forward pass (html.parser is quadratic on unclosed tags)."""

from __future__ import annotations

import html
import re

_BLOCK = frozenset(
    {"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "blockquote", "hr", "pre"}
)
_CELL = frozenset({"td", "th"})
_HIDDEN = frozenset({"script", "style", "head", "title"})
_RAW_TEXT = frozenset({"script", "style"})  # their content is not markup: it ends at </script, </style
_TAG_STOP = re.compile(r"[>\"']")  # the end of a tag, or a quoted attribute value that may hold a ">"
_NAME_END = re.compile(r"[\s/>]")
_SPACES = re.compile(r"[ \t\r\n]+")


class _Text:
    """The text collected so far, with the state HTMLParser's handlers in parse.py kept."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.hidden = 0
        self.pre = 0

    def data(self, text: str) -> None:
        if text and not self.hidden:
            text = html.unescape(text)
            self.parts.append(text if self.pre else _SPACES.sub(" ", text))

    def start(self, tag: str) -> None:
        if tag == "pre":
            self.pre += 1
        if tag in _HIDDEN:
            self.hidden += 1
        elif tag in _BLOCK:
            self.parts.append("\n")
        elif tag in _CELL:
            self.parts.append(" ")

    def end(self, tag: str) -> None:
        if tag == "pre":
            self.pre = max(0, self.pre - 1)
        if tag in _HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in _BLOCK:
            self.parts.append("\n")


def text_of(document: str) -> str:
    """The document's text: tags dropped, entities decoded, a line break where a block starts or ends,
    a space for a table cell; script, style, head and title hidden; runs of blanks collapsed except in
    <pre> (lines are not stripped here)."""
    out = _Text()
    lower = document.lower()  # for </script and </style, found without a case-insensitive pattern
    pos = 0
    while 0 <= pos < len(document):
        at = document.find("<", pos)
        if at < 0:
            out.data(document[pos:])
            break
        nxt = document[at + 1 : at + 2]
        if not (_letter(nxt) or nxt in {"!", "?", "/"}):
            out.data(document[pos : at + 1])  # a "<" that starts no markup is text
            pos = at + 1
            continue
        out.data(document[pos:at])
        if _letter(nxt) or (nxt == "/" and _letter(document[at + 2 : at + 3])):
            pos = _tag(document, lower, at, out)
        elif document.startswith("<!--", at):
            end = document.find("-->", at + 4)
            pos = -1 if end < 0 else end + 3
        else:
            end = document.find(">", at + 2)  # a declaration, processing instruction or bogus comment
            pos = -1 if end < 0 else end + 1
    return "".join(out.parts)


def _letter(char: str) -> bool:
    return char.isascii() and char.isalpha()


def _tag(document: str, lower: str, at: int, out: _Text) -> int:
    """Read the start or end tag at `at` (and a script's or style's content); where reading goes on, or -1."""
    end = _tag_end(document, at + 1)
    if end < 0:
        return -1  # an unterminated tag: nothing after it is shown
    closing = document[at + 1] == "/"
    body = document[at + (2 if closing else 1) : end]
    found = _NAME_END.search(body)
    tag = (body[: found.start()] if found else body).lower()
    if closing:
        out.end(tag)
        return end + 1
    out.start(tag)
    if body.endswith("/"):
        out.end(tag)  # <br/>: HTMLParser reports a start and an end tag
        return end + 1
    if tag not in _RAW_TEXT:
        return end + 1
    close = lower.find(f"</{tag}", end + 1)
    if close < 0:
        return -1
    out.data(document[end + 1 : close])
    return close  # the end tag is read as a tag on the next turn


def _tag_end(document: str, start: int) -> int:
    """Where the tag whose name starts at `start` ends (its ">"), skipping quoted values; -1 if it doesn't.

    A quote that never closes is not a value: the tag then ends at the next ">" after it.
    """
    pos = start
    while True:
        found = _TAG_STOP.search(document, pos)
        if found is None:
            return -1
        if found.group() == ">":
            return found.start()
        close = document.find(found.group(), found.end())
        if close < 0:
            return document.find(">", found.end())
        pos = close + 1
