"""Encoding: RFC 2047 headers, RFC 2045 bodies, MIME structure and each client's HTML."""

from __future__ import annotations

import base64
import html.entities
import quopri
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from mailbot.demo.corpus.clients import Client
from mailbot.demo.corpus.model import CRLF

_ALNUM = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_Q_SAFE_TEXT = frozenset(_ALNUM + b"!*+-/.,:;()'")
_Q_SAFE_PHRASE = frozenset(_ALNUM + b"!*+-/")  # RFC 2047 §5 (3): the stricter set for a phrase
_PLAIN_PHRASE = re.compile(r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~ ]+")


def _fits(text: str, charset: str) -> bool:
    try:
        text.encode(charset)
    except UnicodeEncodeError:
        return False
    return True


def charset_for(preferred: str, text: str) -> str:
    """The program's charset if the text fits, else what programs switch to (windows-1252, then UTF-8)."""
    if _fits(text, preferred):
        return preferred
    if preferred.lower().startswith("iso-8859") and _fits(text, "windows-1252"):
        return "windows-1252"
    return "utf-8" if preferred.islower() else "UTF-8"


def _encoded_word(text: str, charset: str, enc: str, *, phrase: bool) -> str:
    data = text.encode(charset)
    if enc == "B":
        payload = base64.b64encode(data).decode("ascii")
    else:
        safe = _Q_SAFE_PHRASE if phrase else _Q_SAFE_TEXT
        payload = "".join("_" if b == 0x20 else chr(b) if b in safe else f"={b:02X}" for b in data)
    return f"=?{charset}?{enc}?{payload}?="


def _encoded_words(text: str, charset: str, enc: str, *, phrase: bool = False) -> list[str]:
    """RFC 2047 encoded-words of at most 75 characters, split between characters (never inside one)."""
    words: list[str] = []
    chunk = ""
    for ch in text:
        if chunk and len(_encoded_word(chunk + ch, charset, enc, phrase=phrase)) > 75:
            words.append(_encoded_word(chunk, charset, enc, phrase=phrase))
            chunk = ""
        chunk += ch
    if chunk:
        words.append(_encoded_word(chunk, charset, enc, phrase=phrase))
    return words


def unstructured(text: str, client: Client) -> str:
    """A Subject-like value, RFC 2047 encoded as the program does: all of it, or the non-ASCII span only."""
    if text.isascii():
        return text
    charset = charset_for(client.word_charset, text)
    if client.word_whole:
        return " ".join(_encoded_words(text, charset, client.word_enc))
    words = text.split(" ")
    wide = [i for i, w in enumerate(words) if not w.isascii()]
    first, last = wide[0], wide[-1]
    middle = _encoded_words(" ".join(words[first : last + 1]), charset, client.word_enc)
    head = [" ".join(words[:first])] if first else []
    tail = [" ".join(words[last + 1 :])] if last + 1 < len(words) else []
    return " ".join(head + middle + tail)


def mailbox(name: str, addr: str, client: Client) -> str:
    """name-addr of RFC 5322 §3.4: plain, quoted (for "Dr." or "Meier, Ute") or RFC 2047 encoded."""
    if not name:
        return addr
    if not name.isascii():
        charset = charset_for(client.word_charset, name)
        return " ".join([*_encoded_words(name, charset, client.word_enc, phrase=True), f"<{addr}>"])
    if _PLAIN_PHRASE.fullmatch(name):
        return f"{name} <{addr}>"
    quoted = name.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{quoted}" <{addr}>'


def header(name: str, value: str) -> str:
    """One header field, folded at existing spaces to keep lines under 78 characters (RFC 5322 §2.2.3)."""
    line = f"{name}: {value}"
    lines: list[str] = []
    start = len(name) + 2
    while len(line) > 76:
        cut = line.rfind(" ", start, 77)
        if cut <= 0:
            cut = line.find(" ", 77)
            if cut <= 0:
                break
        lines.append(line[:cut])
        line = line[cut:]
        start = 1
    lines.append(line)
    return CRLF.join(lines)


@dataclass(frozen=True)
class Part:
    """A MIME entity: its header lines and its encoded body (CRLF, 7-bit)."""

    headers: tuple[str, ...]
    body: str


def encode_body(data: bytes, cte: str) -> str:
    """Quoted-printable or base64 (RFC 2045 §6.7, §6.8) with CRLF line ends; base64 lines of 76."""
    if cte == "quoted-printable":
        return quopri.encodestring(data).decode("ascii").replace("\n", CRLF)
    return base64.encodebytes(data).decode("ascii").replace("\n", CRLF).rstrip(CRLF)


def leaf(
    subtype: str, text: str, charset: str, cte: str, *, quote: bool = True, flowed: bool = False
) -> Part:
    """A text/* part in the given charset and transfer encoding (7bit, quoted-printable or base64)."""
    if cte == "auto":
        cte = "7bit" if text.isascii() else "qp"
    if cte == "7bit":
        body = text.replace("\n", CRLF)
    elif cte == "qp":
        cte = "quoted-printable"
        body = encode_body(text.encode(charset), cte)
    else:  # base64 encodes the canonical form: CRLF line ends (RFC 2045 §6.8)
        body = encode_body(text.replace("\n", CRLF).encode(charset), cte)
    label = f'"{charset}"' if quote else charset
    ctype = f"Content-Type: text/{subtype}; charset={label}" + ("; format=flowed" if flowed else "")
    return Part((ctype, f"Content-Transfer-Encoding: {cte}"), body)


def multipart(
    subtype: str, boundary: str, parts: Sequence[Part], *, preamble: str = "", params: str = ""
) -> Part:
    lines = [preamble, ""] if preamble else []
    for part in parts:
        lines += [f"--{boundary}", *part.headers, "", part.body]
    lines += [f"--{boundary}--", ""]
    ctype = f'Content-Type: multipart/{subtype};{params}{CRLF}\tboundary="{boundary}"'
    return Part((ctype,), CRLF.join(lines))


def _escape_html(text: str, charset: str, *, named: bool = False) -> str:
    """HTML text: markup characters escaped, what the charset lacks (or everything, `named`) as entities."""
    out: list[str] = []
    for ch in text:
        if ch in "&<>":
            out.append({"&": "&amp;", "<": "&lt;", ">": "&gt;"}[ch])
        elif not ch.isascii() and (named or not _fits(ch, charset)):
            entity = html.entities.codepoint2name.get(ord(ch))
            out.append(f"&{entity};" if named and entity else f"&#{ord(ch)};")
        else:
            out.append(ch)
    escaped = "".join(out).replace("  ", " &nbsp;")
    return "&nbsp;" + escaped[1:] if escaped.startswith(" ") else escaped


def _html_gmx(lines: Sequence[str], charset: str) -> str:  # noqa: ARG001 (one signature for all styles)
    body = "\n".join(f"<div>{line or '&nbsp;'}</div>" for line in lines)
    style = "font-family: Verdana;font-size: 12.0px;"
    return f'<html><head></head><body><div style="{style}">{body}</div></body></html>\n'


def _html_paragraphs(lines: Sequence[str], charset: str) -> str:  # noqa: ARG001
    paragraphs: list[list[str]] = [[]]
    for line in lines:
        if line:
            paragraphs[-1].append(line)
        elif paragraphs[-1]:
            paragraphs.append([])
    body = "\n".join("<p>" + "<br>\n".join(p) + "</p>" for p in paragraphs if p)
    return f"<html><head></head><body>\n{body}\n</body></html>\n"


def _html_outlook(lines: Sequence[str], charset: str) -> str:
    empty = '<p class="MsoNormal"><o:p>&nbsp;</o:p></p>'
    body = "\n".join(f'<p class="MsoNormal">{line}<o:p></o:p></p>' if line else empty for line in lines)
    return (
        f'<html><head><meta http-equiv="Content-Type" content="text/html; charset={charset}">\n'
        '<meta name="Generator" content="Microsoft Word 15 (filtered medium)">\n<style><!--\n'
        "p.MsoNormal, li.MsoNormal, div.MsoNormal\n"
        '\t{margin:0cm; font-size:11.0pt; font-family:"Calibri",sans-serif;}\n--></style></head>\n'
        '<body lang="DE" link="#0563C1" vlink="#954F72">\n<div class="WordSection1">\n'
        f"{body}\n</div>\n</body></html>\n"
    )


def _html_apple(lines: Sequence[str], charset: str) -> str:  # noqa: ARG001
    body = "".join(
        f'<div class="">{line}</div>' if line else '<div class=""><br class=""></div>' for line in lines
    )
    style = "word-wrap: break-word; -webkit-nbsp-mode: space; line-break: after-white-space;"
    return (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8"></head>'
        f'<body style="{style}" class="">{body}</body></html>'
    )


def _html_samsung(lines: Sequence[str], charset: str) -> str:  # noqa: ARG001
    body = "".join(f'<div dir="auto">{line or "<br>"}</div>' for line in lines)
    return (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=UTF-8"></head>'
        f"<body>{body}</body></html>"
    )


def _html_winlive(lines: Sequence[str], charset: str) -> str:  # noqa: ARG001
    body = "\n".join(f"<DIV>{line or '&nbsp;'}</DIV>" for line in lines)
    return (
        "<HTML><HEAD></HEAD>\n<BODY dir=ltr>\n<DIV dir=ltr>\n"
        "<DIV style=\"FONT-FAMILY: 'Calibri'; COLOR: #000000; FONT-SIZE: 12pt\">\n"
        f"{body}</DIV></DIV></BODY></HTML>\n"
    )


def _html_gmail(lines: Sequence[str], charset: str) -> str:  # noqa: ARG001
    body = "".join(f"<div>{line or '<br>'}</div>" for line in lines)
    return f'<div dir="ltr">{body}</div>\n'


_HTML_STYLES: dict[str, Callable[[Sequence[str], str], str]] = {
    "gmx": _html_gmx,
    "paragraphs": _html_paragraphs,
    "outlook": _html_outlook,
    "apple": _html_apple,
    "samsung": _html_samsung,
    "winlive": _html_winlive,
    "gmail": _html_gmail,
}


def html_body(style: str, lines: Sequence[str], charset: str, nbsp: str | None) -> str:
    """The HTML a program makes of the typed lines: GMX divs, Outlook's MsoNormal, Gmail's dir=ltr, ..."""
    escaped = [_escape_html(line, charset, named=style == "winlive") for line in lines]
    if nbsp:  # the web editor kept a non-breaking space the user typed between keyword and date
        plain = _escape_html(nbsp, charset)
        escaped = [line.replace(plain, plain.replace(" ", "&nbsp;")) for line in escaped]
    return _HTML_STYLES[style](escaped, charset)
