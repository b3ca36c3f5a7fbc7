"""Outgoing mail as bytes: a small MIME writer for the desk's own replies (RFC 5322, 2045-2047, 2183)."""

from __future__ import annotations

import base64
import hashlib
import quopri
from dataclasses import dataclass, field
from email import quoprimime
from email.header import Header

_MAX_LINE = 78  # RFC 5322 §2.1.1: lines SHOULD be at most 78 characters
MAX_OCTETS = 998  # RFC 5322 §2.1.1: lines MUST be at most 998 octets (without CRLF)
_MAX_WORD = 75  # RFC 2047 §2: an encoded-word is at most 75 characters
_SPECIALS = set('()<>[]:;@\\,."')


@dataclass(frozen=True)
class Attachment:
    """A file sent along: ``maintype/subtype`` with parameters, as an attachment named `filename`."""

    data: bytes
    maintype: str
    subtype: str
    filename: str
    params: tuple[tuple[str, str], ...] = ()


Value = str | tuple[str, str]  # unstructured text on one line, or an address: (display name, addr-spec)


@dataclass
class Mail:
    """One outgoing mail: headers in order (values on one line, not yet encoded), a text, attachments."""

    recipient: str  # the addr-spec of the one recipient (the envelope's RCPT TO)
    message_id: str
    headers: list[tuple[str, Value]]
    text: str
    language: str = ""  # Content-Language of the text
    attachments: list[Attachment] = field(default_factory=list)

    def __getitem__(self, name: str) -> str | None:
        """The first header of that name as given (not encoded; an address as ``Name <addr>``), or None."""
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value if isinstance(value, str) else f"{value[0]} <{value[1]}>".lstrip()
        return None

    def as_bytes(self) -> bytes:
        """The mail as sent: CRLF line ends, 7-bit clean but for an address that needs UTF-8 (RFC 6532).

        Only an addr-spec with a non-ASCII local part is written in UTF-8 (such a mail needs SMTPUTF8 to go
        out); every text is RFC 2047-encoded, so the encoding is ASCII's for every other mail.
        """
        lines = [self._header(name, value) for name, value in self.headers]
        lines.append("MIME-Version: 1.0")
        text_part = _text_part(self.text, self.language)
        if not self.attachments:
            return ("\r\n".join(lines) + "\r\n" + text_part).encode("utf-8")
        boundary = "=_mailbot_" + hashlib.sha256(self.message_id.encode()).hexdigest()[:32]
        lines.append(f'Content-Type: multipart/mixed;\r\n boundary="{boundary}"')
        parts = [text_part, *(_attachment_part(a) for a in self.attachments)]
        body = "".join(f"--{boundary}\r\n{part}\r\n" for part in parts) + f"--{boundary}--\r\n"
        return ("\r\n".join(lines) + "\r\n\r\n" + body).encode("utf-8")

    @staticmethod
    def _header(name: str, value: Value) -> str:
        if isinstance(value, tuple):
            return f"{name}: {mailbox(*value)}"
        if value.isascii() and len(name) + 2 + len(value) <= _MAX_LINE:
            return f"{name}: {value}"
        return f"{name}: " + encode_words(value, name)


def encode_words(value: str, name: str = "") -> str:
    """Unstructured text (a subject, a display name) for a header: folded, RFC 2047 where not ASCII."""
    if value.isascii():
        folded = _fold_ascii(value, len(name) + 2)
        if len(name) + 2 + len(folded) <= MAX_OCTETS or _fits(folded, len(name) + 2):
            return folded
        # A word too long for any line (RFC 5322 §2.1.1: at most 998 octets) can't be folded at a blank:
        # as encoded-words it can be split anywhere (RFC 2047 §2, §5).
        return Header(value, "utf-8", header_name=name or None).encode(linesep="\r\n")
    word = _one_word(value)
    if word is not None and len(name) + 2 + len(word) <= _MAX_LINE:
        return word
    return Header(value, "utf-8", header_name=name or None).encode(linesep="\r\n")


def _fold_ascii(value: str, indent: int) -> str:
    """ASCII text folded before blanks, its lines within 78 characters where a blank allows it.

    RFC 5322 §2.2.3: unfolding removes each CRLF and gives the value back. `indent`: "Name: " before it.
    """
    words = value.split(" ")
    lines, line = [], words[0]
    width = indent + len(line)
    for word in words[1:]:
        if word and line.strip() and width + 1 + len(word) > _MAX_LINE:
            lines.append(line)
            line, width = " " + word, 1 + len(word)  # the continuation line starts with the blank
        else:
            line, width = line + " " + word, width + 1 + len(word)
    return "\r\n".join([*lines, line])


def _fits(folded: str, indent: int) -> bool:
    """Whether each line of a folded value is at most 998 octets (the first after `indent` characters)."""
    lines = folded.split("\r\n")
    return indent + len(lines[0]) <= MAX_OCTETS and all(len(line) <= MAX_OCTETS for line in lines[1:])


def _one_word(text: str) -> str | None:
    """`text` as one RFC 2047 encoded-word, or None when that is longer than 75 characters.

    What `email.header.Header` writes for a value that fits one word, without its per-character loops: UTF-8,
    the shorter of "Q" (ties included) and "B". The "Q" alphabet is the one allowed in a display name too.
    """
    data = text.encode("utf-8")
    b = "=?utf-8?b?" + base64.b64encode(data).decode("ascii") + "?="
    q = quoprimime.header_encode(data, "utf-8")
    word = q if len(q) <= len(b) else b
    return word if len(word) <= _MAX_WORD else None


def mailbox(name: str, address: str) -> str:
    """``Name <address>``: the name quoted when it holds specials, encoded when it isn't ASCII or is long."""
    if not name:
        return address
    if name.isascii() and len(name) + len(address) < _MAX_LINE - 12:
        if _SPECIALS & set(name):
            quoted = name.replace("\\", "\\\\").replace('"', '\\"')
            return f'"{quoted}" <{address}>'
        return f"{name} <{address}>"
    word = _one_word(name)
    encoded = word if word is not None else Header(name, "utf-8", header_name="To").encode(linesep="\r\n")
    if "\r\n" not in encoded and len(encoded) + len(address) < _MAX_LINE - 8:
        return f"{encoded} <{address}>"
    return f"{encoded}\r\n <{address}>"


def _text_part(text: str, language: str) -> str:
    """Headers and body of the text/plain part (7bit when it can be, else quoted-printable)."""
    text = text.replace("\r\n", "\n")
    head = 'Content-Type: text/plain; charset="utf-8"\r\n'
    if language:
        head += f"Content-Language: {language}\r\n"
    if not text.endswith("\n"):
        text += "\n"
    if text.isascii() and all(len(line) <= _MAX_LINE for line in text.split("\n")) and "\r" not in text:
        return head + "Content-Transfer-Encoding: 7bit\r\n\r\n" + text.replace("\n", "\r\n")
    encoded = quopri.encodestring(text.encode("utf-8")).decode("ascii").replace("\n", "\r\n")
    return head + "Content-Transfer-Encoding: quoted-printable\r\n\r\n" + encoded


def _attachment_part(attachment: Attachment) -> str:
    """Headers and base64 body of one attachment."""
    params = "".join(f';\r\n {key}="{value}"' for key, value in attachment.params)  # one per line
    data = base64.encodebytes(attachment.data).decode("ascii").replace("\n", "\r\n")
    return (
        f"Content-Type: {attachment.maintype}/{attachment.subtype}{params}\r\n"
        "Content-Transfer-Encoding: base64\r\n"
        f'Content-Disposition: attachment; filename="{attachment.filename}"\r\n\r\n' + data
    )
