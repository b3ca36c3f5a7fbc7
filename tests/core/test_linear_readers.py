"""The linear readers give the answers of what they replace (email.header, html.parser, the old patterns)."""

from __future__ import annotations

import email.errors
import email.header
import re
from html.parser import HTMLParser

from hypothesis import given, settings
from hypothesis import strategies as st

from mailbot.core import encoded_words, keyword
from mailbot.core.parse import html_to_text

# The quote-header pattern before it was made linear (keyword.py), the reference for _quote_header.
OLD_QUOTE_HEADER = re.compile(
    r"^\s*(?:"
    r"am\s.+\s(?:schrieb|geschrieben)\b.*:\s*$"
    r"|on\s.+\swrote:\s*$"
    r"|-{2,}\s*(?:ursprüngliche nachricht|original message|weitergeleitete nachricht|"
    r"forwarded message)\s*-{2,}"
    r"|(?:von|from):\s.+@"
    r")",
    re.IGNORECASE,
)
LINE_TOKENS = st.sampled_from(
    ["am", "Am", "AM", "on", "ON", " ", "\t", "\xa0", "\x1c", "x", "é", "_", ":", "@", "schrieb", "schriebx",
     "geschrieben", "Wrote", "wrote:", "von:", "From:", "--", "original message"]
)  # fmt: skip


@settings(max_examples=500)
@given(st.lists(LINE_TOKENS, max_size=12).map("".join))
def test_quote_header_reads_lines_as_the_old_pattern_did(line: str) -> None:
    """Any line made of the words quote headers are made of starts quoted text exactly when it did before."""
    assert keyword._quote_header(line) == bool(OLD_QUOTE_HEADER.match(line))


HEADER_TOKENS = st.sampled_from(
    ["=?", "?=", "?", "=", "q", "B", "utf-8", "ISO-8859-1", "YQ", "YWJj", "=E4", "_", " ", "\t", "x", "ä",
     "\u20ac", "\\u0041", "=?utf-8?q?", "=?utf-8?b?", "?= "]
)  # fmt: skip


def reference_words(header: str) -> object:
    try:
        return email.header.decode_header(header)
    except email.errors.HeaderParseError:
        return "error"


def linear_words(header: str) -> object:
    try:
        return encoded_words.decode_header(header)
    except ValueError:
        return "error"


@settings(max_examples=500)
@given(st.lists(HEADER_TOKENS, max_size=16).map("".join))
def test_encoded_words_are_split_as_email_header_splits_them(header: str) -> None:
    """On an unfolded header value, the chunks and charsets are email.header.decode_header's."""
    assert linear_words(header) == reference_words(header)


def test_encoded_words_of_real_headers() -> None:
    """Thunderbird, Outlook and broken-padding encoded-words decode as email.header does."""
    for header in (
        "=?UTF-8?Q?Anmeldung_B=C3=BCrgerbudget?=",
        "Re: =?utf-8?B?QW5tZWxkdW5nIETDvHNzZWxkb3Jm?= =?utf-8?B?IDA4LjEwLg==?= (Termin)",
        "=?iso-8859-1?q?M=FCller?=, Hans",
        "=?utf-8?b?QW5tZWxkdW5n?=",
        "=?utf-8?b?QW5tZWxkdW5?=",
    ):
        assert encoded_words.decode_header(header) == email.header.decode_header(header)


class ReferenceHtml(HTMLParser):
    """The HTMLParser-based reader parse.py used before (the reference for html_text)."""

    BLOCK = frozenset(
        {"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "blockquote", "hr", "pre"}
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0
        self.pre = 0

    def handle_starttag(self, tag: str, attrs: object) -> None:  # noqa: ARG002
        self.pre += tag == "pre"
        if tag in {"script", "style", "head", "title"}:
            self.hidden += 1
        elif tag in self.BLOCK:
            self.parts.append("\n")
        elif tag in {"td", "th"}:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag == "pre":
            self.pre = max(0, self.pre - 1)
        if tag in {"script", "style", "head", "title"}:
            self.hidden = max(0, self.hidden - 1)
        elif tag in self.BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data if self.pre else re.sub(r"[ \t\r\n]+", " ", data))


def reference_text(document: str) -> str:
    parser = ReferenceHtml()
    parser.feed(document)
    parser.close()
    lines = "".join(parser.parts).splitlines()
    return "\n".join(re.sub(r"[ \t\xa0]+", " ", line).strip() for line in lines)


HTML_TOKENS = st.sampled_from(
    ["<p>", "</p>", "<br>", "<br/>", "<BR>", "<div class=\"a\">", "</div>", "<td>", "<th>", "<tr>", "<table>",
     "<pre>", "</pre>", "<title>T</title>", "<style>p { x: 1 }</style>", "<script>var a = 1 < 2;</script>",
     "<!-- c -->", "<!DOCTYPE html>", "<a href='x>y'>", "</a>", "&amp;", "&uuml;", "&#252;", "&nbsp;", "a",
     "Anmeldung", " ", "\n", "\t", "1 < 2", "ä", "<span style=\"color: red\">", "</span>"]
)  # fmt: skip


@settings(max_examples=500)
@given(st.lists(HTML_TOKENS, max_size=20).map("".join))
def test_html_text_reads_well_formed_html_as_html_parser_did(document: str) -> None:
    """Tags, entities, blocks, cells, <pre>, hidden elements, comments: the same text as HTMLParser gave."""
    assert html_to_text(document) == reference_text(document)


def test_unterminated_markup_hides_the_rest() -> None:
    """A tag, comment or script that never ends hides what follows it; text before it stays."""
    assert html_to_text("<p>Anmeldung</p><a href=x").strip() == "Anmeldung"
    assert html_to_text("Anmeldung<!-- nie geschlossen <p>geheim").strip() == "Anmeldung"
    assert html_to_text("Anmeldung<script>geheim").strip() == "Anmeldung"
    assert html_to_text("1 < 2 und 3 > 2").strip() == "1 < 2 und 3 > 2"
