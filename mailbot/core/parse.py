"""Bytes -> InboundMessage: tolerant MIME parsing with charset fallbacks and HTML -> text."""

from __future__ import annotations

import email
import email.header
import email.policy
import email.utils
import re
from collections.abc import Iterator
from email.message import Message

from mailbot.core import encoded_words, html_text, mime_reader
from mailbot.core.identity import decoded_hash
from mailbot.core.model import Address, InboundMessage


class MessageParseError(ValueError):
    """The bytes cannot be read as a mail; the message is quarantined with this reason."""


# Charsets mail programs declare that Python doesn't know, or know under another name.
_CHARSET_ALIASES = {"unknown-8bit": "cp1252", "x-unknown": "cp1252", "iso-8859-8-i": "iso-8859-8"}
_MSGID = re.compile(r"<[^<>\s]+>")
_SURROGATE = re.compile("[\udc80-\udcff]")  # raw 8-bit bytes, surrogate-escaped by the parser
_ANGLE_ADDR = re.compile(r"<([^<>@\s]+@[^<>@\s]+)>")
MAX_ADDRESS_FIELD = 4096  # RFC 5321 §4.5.3.1: an address is at most 256 octets; a name rarely 100
# A Content-Type field with more parameters than this (";" in it) makes the mail unreadable: the email package
# reads parameters by slicing and counting the rest of the value once per ";" (quadratic: a megabyte of
# ";" takes minutes), and a real one (boundary, charset, an RFC 2231 file name in pieces) has a few.
MAX_CONTENT_TYPE_PARAMETERS = 100
_CONTENT_TYPE_FIELD = re.compile(rb"^content-type[ \t]*:", re.IGNORECASE | re.MULTILINE)
_BLANKS = re.compile(r"[ \t\xa0]+")


def decode_header_value(raw: str) -> str:
    """Decode RFC 2047 encoded-words leniently: broken words and unknown charsets never raise.

    Raw 8-bit bytes in a header (not allowed, but common) arrive surrogate-escaped: they are decoded as
    UTF-8 when valid, else windows-1252.
    """
    if not raw.isascii() and _SURROGATE.search(raw):
        raw = decode_bytes(raw.encode("ascii", "surrogateescape"), None)
    if "=?" not in raw:
        return _clean(raw)  # no encoded-word: what decode_header would give back, without its cost
    # Unfold first (RFC 5322 §2.2.3): decode_header strips each line's leading blank, which would glue
    # "Anmeldung\r\n =?utf-8?q?B=C3=BCrgerbudget?=" into one word (Thunderbird folds like that).
    raw = re.sub(r"\r?\n(?=[ \t])", "", raw)
    try:
        parts = encoded_words.decode_header(raw)  # email.header's, in linear time
    except Exception:  # noqa: BLE001 (the email package raises many types on broken encoded-words)
        return _clean(raw)
    out: list[str] = []
    for chunk, charset in parts:
        if isinstance(chunk, str):
            out.append(chunk)
        elif charset is None:
            # decode_header hands back the plain text between encoded-words as raw-unicode-escape bytes.
            out.append(chunk.decode("raw-unicode-escape", errors="replace"))
        else:
            out.append(decode_bytes(chunk, charset))
    # decode_header keeps the whitespace of plain chunks and drops it between encoded-words (RFC 2047 §6.2).
    return _clean("".join(out))


def _clean(text: str) -> str:
    """Unfold a header value: collapse CR/LF and runs of whitespace into one space."""
    return " ".join(text.split())  # str.split() splits on exactly what re's \s matches


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Bytes in a declared (maybe wrong or unknown) charset -> text, never raising.

    Undeclared: UTF-8 if it decodes, else windows-1252 (a superset of latin-1 in practice).
    Unknown names fall back to the same, with replacement characters for what doesn't fit.
    """
    if charset:
        name = _CHARSET_ALIASES.get(charset.strip().lower(), charset.strip().lower())
        try:
            return data.decode(name)
        except UnicodeDecodeError:
            try:
                return data.decode(name, errors="replace")
            except (LookupError, ValueError):
                pass
        # Not a charset at all, or a codec that refuses (idna, punycode, "undefined", a name with NUL).
        except (LookupError, ValueError):
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def html_to_text(html: str) -> str:
    """Visible text of an HTML body: tags dropped, entities decoded, one line per block."""
    lines = html_text.text_of(html).splitlines()
    return "\n".join(_BLANKS.sub(" ", line).strip() for line in lines)


def _part_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    return decode_bytes(payload, _charset(part))


_CHARSETS: dict[str, str | None] = {}  # Content-Type value -> its charset parameter (see _charset)


def _charset(part: Message) -> str | None:
    """The part's charset parameter (Message.get_param). It depends on the Content-Type value alone, and
    mail programs write the same few values: each is read once."""
    content_type = part.get("content-type")
    if content_type is None:
        return None
    key = str(content_type)
    if len(key) > 1000:  # not one of the usual few values: not kept (256 long ones would pin their bytes)
        charset = part.get_param("charset")
        return charset and str(charset)
    if key not in _CHARSETS:
        if len(_CHARSETS) >= 256:
            _CHARSETS.clear()
        charset = part.get_param("charset")
        _CHARSETS[key] = charset and str(charset)
    return _CHARSETS[key]


def _is_attachment(part: Message) -> bool:
    disposition = str(part.get("Content-Disposition", "")).split(";")[0].strip().lower()
    return disposition == "attachment"


def body_text(msg: Message) -> tuple[str, str]:
    """(text, content type it came from): the first inline text/plain, else the first text/html as text.

    Attachments are skipped and never opened; a forwarded message/rfc822 is not entered (its text is the
    forwarded mail's, not the sender's).
    """
    plain: str | None = None
    html: str | None = None
    for part in _walk_inline(msg):
        ctype = part.get_content_type()
        if ctype == "text/plain" and plain is None:
            plain = _part_text(part)
        elif ctype == "text/html" and html is None:
            html = _part_text(part)
    if plain is not None and plain.strip():
        return plain, "text/plain"
    if html is not None:
        return html_to_text(html), "text/html"
    return plain or "", "text/plain"


def _walk_inline(msg: Message) -> list[Message]:
    """Leaf parts in order, not descending into attachments or forwarded messages."""
    leaves: list[Message] = []
    stack = [msg]  # the next part last: popping from the front would cost one copy of the list per part
    while stack:
        part = stack.pop()
        if _is_attachment(part):
            continue
        if part.is_multipart():
            if part.get_content_type() == "message/rfc822":
                continue
            children = part.get_payload()
            if isinstance(children, list):
                stack.extend(reversed([c for c in children if isinstance(c, Message)]))
            continue
        leaves.append(part)
    return leaves


def parse_address(value: str) -> tuple[str, str]:
    """email.utils.parseaddr on the field's first MAX_ADDRESS_FIELD characters; ("", "") when it fails.

    parseaddr reads a whole address list (~30 µs per "<" or ","): a From field of megabytes would take
    seconds, and nested comments ("((((...") exhaust its recursion.
    """
    try:
        return email.utils.parseaddr(value[:MAX_ADDRESS_FIELD])
    except RecursionError:
        return "", ""


def _sender(raw: str | None) -> Address | None:
    """The From mailbox; parsed before decoding, so an encoded-word name with a comma stays one name."""
    if not raw:
        return None
    name, addr = parse_address(raw)
    if not addr or "@" not in addr:
        # Raw 8-bit in the header can confuse parseaddr: try the decoded value too.
        name, addr = parse_address(decode_header_value(raw))
        if not addr or "@" not in addr:
            # An unquoted comma in the name ("Müller, Hans <h@x.de>") splits it into two mailboxes:
            # the angle-bracketed address is still the sender's.
            found = _ANGLE_ADDR.search(raw)
            if found is None:
                return None
            name, addr = raw[: found.start()].strip().strip('"'), found.group(1)
    return Address(name=decode_header_value(name), address=decode_header_value(addr).strip())


def _message_ids(value: str | None) -> tuple[str, ...]:
    return tuple(_MSGID.findall(value or ""))


def _check_content_types(raw: bytes) -> None:
    """MessageParseError for a Content-Type field (of any part) with more than MAX_CONTENT_TYPE_PARAMETERS
    semicolons; each field is read up to its end or to the semicolon over the limit, whichever comes first."""
    for found in _CONTENT_TYPE_FIELD.finditer(raw):
        start, semicolons = found.end(), 0
        while semicolons <= MAX_CONTENT_TYPE_PARAMETERS:  # continuation lines start with a blank
            newline = raw.find(b"\n", start)
            end = len(raw) if newline < 0 else newline
            semicolons += raw.count(b";", start, end)
            if newline < 0 or raw[newline + 1 : newline + 2] not in (b" ", b"\t"):
                break
            start = newline + 1
        if semicolons > MAX_CONTENT_TYPE_PARAMETERS:
            raise MessageParseError(
                f"a Content-Type field with more than {MAX_CONTENT_TYPE_PARAMETERS} parameters (';')"
            )


def parse_message(raw: bytes) -> InboundMessage:
    """Parse any bytes into an InboundMessage; raises MessageParseError when nothing mail-like is there."""
    if not raw or not raw.strip():
        raise MessageParseError("empty message")
    _check_content_types(raw)
    try:
        # compat32 parsing keeps raw header strings: decoding is ours, so broken headers can't raise later.
        msg = mime_reader.message_from_bytes(raw, email.policy.compat32)
    except Exception as exc:
        raise MessageParseError(f"unparseable MIME structure: {type(exc).__name__}") from exc
    headers = tuple((str(k).lower(), decode_header_value(str(v))) for k, v in msg.raw_items())
    if not headers:
        raise MessageParseError("no header fields")
    lookup: dict[str, str] = {}
    for key, value in headers:
        lookup.setdefault(key, value)
    raw_from = next((str(v) for k, v in msg.raw_items() if str(k).lower() == "from"), None)
    try:
        text, ctype = body_text(msg)
    except Exception as exc:
        raise MessageParseError(f"unreadable body: {type(exc).__name__}: {exc}") from exc
    message_ids = _message_ids(lookup.get("message-id"))
    try:
        identity = decoded_hash(headers, _decoded_parts(msg))
    except Exception:  # noqa: BLE001 (only a second identity: without it the mail is still read)
        identity = None
    return InboundMessage(
        subject=lookup.get("subject", ""),
        sender=_sender(raw_from),
        message_id=message_ids[0] if message_ids else None,
        in_reply_to=_message_ids(lookup.get("in-reply-to")),
        references=_message_ids(lookup.get("references")),
        headers=headers,
        text=text.replace("\r\n", "\n"),
        content_type=ctype,
        defects=tuple(type(d).__name__ for d in msg.defects),
        decoded_hash=identity,
    )


def _decoded_parts(msg: Message) -> Iterator[bytes]:
    """Every leaf part's content with its transfer encoding undone, in order (attachments and forwarded
    mails too); iterative, so deep nesting can't exhaust the stack."""
    stack = [msg]
    while stack:
        part = stack.pop()
        children = part.get_payload()
        if isinstance(children, list):
            stack.extend(reversed([c for c in children if isinstance(c, Message)]))
            continue
        payload = part.get_payload(decode=True)
        yield payload if isinstance(payload, bytes) else b""
