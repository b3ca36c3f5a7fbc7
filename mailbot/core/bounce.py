"""Bounces of our replies: bytes -> BounceReport (RFC 3464 DSNs read here; other formats by their text)."""

from __future__ import annotations

import binascii
import email
import email.policy
import email.utils
import functools
import itertools
import quopri
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesHeaderParser, HeaderParser

from mailbot.core import mime_reader
from mailbot.core.model import InboundMessage, RuleContext
from mailbot.core.parse import decode_bytes, decode_header_value, parse_address
from mailbot.core.rules.own_mail import MESSAGE_ID_MARK, is_own_message_id


@dataclass(frozen=True)
class BounceReport:
    """What a bounce says: which of our replies came back, for whom, and whether for good.

    ``failed_recipients`` empty means the report itself names none (a non-standard bounce: the adapter
    asks flufl.bounce) or none failed (an RFC 3464 report of success or relaying only).
    """

    our_message_ids: tuple[str, ...]  # our replies the report returns; empty: someone else's mail
    failed_recipients: tuple[str, ...]  # lower-case addr-specs, in report order
    permanent: bool  # False: delivery was only delayed and is still being retried
    diagnostic: str  # the remote server's words (Diagnostic-Code or an SMTP reply line), for admins


# RFC 3464 §2.1 / RFC 6533 §6: the machine-readable part of a DSN (global: UTF-8 addresses allowed).
_STATUS_TYPES = frozenset({"message/delivery-status", "message/global-delivery-status"})
# RFC 3462 §2 names text/rfc822-headers for "headers only"; Vircom and some Exchange versions write
# message/rfc822-headers; RFC 6533 adds the global variants for UTF-8 mail.
_RETURNED_TYPES = frozenset(
    {
        "message/rfc822",
        "message/global",
        "text/rfc822-headers",
        "message/rfc822-headers",
        "message/global-headers",
    }
)
_ADDRESS_TYPES = frozenset({"rfc822", "utf-8"})  # RFC 3464 §2.3.2 address-type; RFC 6533 §3 utf-8
# An SMTP reply code with an RFC 3463 enhanced code (class.subject.detail), and qmail's way of quoting one.
_SMTP_REPLY = re.compile(r"\b[45]\d\d[ -][45]\.\d{1,3}\.\d{1,3}\b")
_QMAIL_CODE = re.compile(r"\(#[45]\.\d{1,3}\.\d{1,3}\)")
_MAX_DIAGNOSTIC = 300
_MAX_OCCURRENCES = 100  # a bounce quotes a Message-ID a few times; a hostile mail may do it a million times

# How bounce software names itself and its subject lines; used only when there is no RFC 3464 report,
# so that a forwarded copy of our reply (or a citizen quoting it) is never read as a bounce.
_DAEMON_SENDER = re.compile(
    r"^(mailer-daemon|mailer_daemon|mail-daemon|maildaemon|postmaster)@", re.IGNORECASE
)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|not\s+delivered|could\s+not\s+be\s+delivered|delivery\s+(status|fail|has\s+fail|"
    r"problem|notification|report)|mail\s+delivery\s+failed|returned\s+mail|returning\s+message|"
    r"failure\s+notice|delivery\s+delayed|delayed\s+mail|warning:\s+could\s+not\s+send|"
    r"unzustellbar|nicht\s+zustellbar|zustellung\s+(fehlgeschlagen|verz)|non\s+remis|non\s+recapitabile",
    re.IGNORECASE,
)
# Warnings that a delivery is still being retried (Exim, Sendmail, Postfix texts).
_DELAY_SUBJECT = re.compile(r"delay|warning|still\s+being\s+retried|verz[öo]ger", re.IGNORECASE)
# A header field name at the start of a (maybe indented) line of a quoted header block.
_FIELD_START = re.compile(r"^[ \t>]*([A-Za-z][A-Za-z0-9-]*)[ \t]*:", re.MULTILINE)
# Fields that name *other* messages: a bounced staff reply to a citizen who answered our reply carries
# our Message-ID in References, but the mail that bounced was the staff member's (RFC 5322 §3.6.4).
_THREAD_FIELDS = frozenset({"in-reply-to", "references"})


@dataclass(frozen=True)
class _Recipient:
    address: str
    action: str  # RFC 3464 §2.3.3: failed | delayed | delivered | relayed | expanded
    status: str
    diagnostic: str


def read_bounce(raw: bytes, ctx: RuleContext) -> BounceReport | None:
    """Read a bounce; None for anything else (ordinary mail, read receipts, garbage). Never raises.

    1. An RFC 3464 DSN (multipart/report; report-type=delivery-status): recipients and status from the
       message/delivery-status part, our Message-ID from the returned message (or, without one, the text).
    2. Otherwise, a mail that looks like a bounce (see looks_like_bounce) and quotes one of our
       Message-IDs in its body: recipients are left empty (the adapter reads them with flufl.bounce).
    """
    try:
        return _read(raw, ctx)
    except Exception:  # noqa: BLE001 (a safety net only: the tests feed _read hostile bytes without it)
        return None


def might_be_bounce(raw: bytes) -> bool:
    """A cheap screen by the headers alone (the body isn't parsed): False for mail that neither is a
    report (multipart/report) nor `looks_like_bounce`, i.e. for nearly every citizen's mail."""
    return _screen(BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw))


def may_be_bounce(msg: InboundMessage) -> bool:
    """`might_be_bounce` for a mail parsed already (its decoded headers): no second parse."""
    first: dict[str, str] = {}
    for name, value in msg.headers:
        first.setdefault(name, value)
    content_type = first.get("content-type", "").split(";", 1)[0].strip().lower()
    return content_type == "multipart/report" or _bounce_headers(first.get)


def _screen(head: Message) -> bool:
    return head.get_content_type() == "multipart/report" or looks_like_bounce(head)


def _read(raw: bytes, ctx: RuleContext) -> BounceReport | None:
    if not might_be_bounce(raw):
        return None
    msg = mime_reader.message_from_bytes(raw, email.policy.compat32)
    if _is_dsn(msg):
        return _read_dsn(msg, raw, ctx)
    if msg.get_content_type() == "multipart/report":
        # A read receipt (RFC 8098) or feedback report (RFC 5965) quotes our Message-ID, but isn't a bounce.
        return None
    if not looks_like_bounce(msg):
        return None
    body = _body_text(raw, msg)
    ours = _own_ids_in_text(body, ctx)
    if not ours:
        return None
    subject = decode_header_value(str(msg.get("subject", "")))
    return BounceReport(
        our_message_ids=ours,
        failed_recipients=(),
        permanent=not _DELAY_SUBJECT.search(subject),
        diagnostic=_smtp_line(body) or subject[:_MAX_DIAGNOSTIC],
    )


def looks_like_bounce(msg: Message) -> bool:
    """Whether the mail presents itself as a bounce, by its headers alone.

    A DSN; X-Failed-Recipients (Exim); a null Return-Path (RFC 5321 §4.5.5: bounces are sent with the
    null reverse-path); a mailer-daemon or postmaster sender, or "Mail Delivery ..." as its name; a
    bounce subject line ("Undeliverable", "failure notice", "Unzustellbar", ...).
    """
    return _is_dsn(msg) or _bounce_headers(msg.get)


def _bounce_headers(get: Callable[[str], object]) -> bool:
    """`looks_like_bounce` but the DSN part, given the lookup of a header's first value (None if absent)."""
    if get("x-failed-recipients") is not None:  # Exim
        return True
    if re.fullmatch(r"<\s*>", str(get("return-path") or "x").strip()):
        return True
    sender = decode_header_value(str(get("from") or ""))
    if "mail delivery" in sender.lower() or _DAEMON_SENDER.match(_address_of(sender)):
        return True
    return bool(_BOUNCE_SUBJECT.search(decode_header_value(str(get("subject") or ""))))


@functools.lru_cache(maxsize=64)
def _address_of(sender: str) -> str:
    return parse_address(sender)[1]


def _is_dsn(msg: Message) -> bool:
    """multipart/report with report-type=delivery-status, or (missing parameter) a delivery-status part."""
    if msg.get_content_type() != "multipart/report":
        return False
    report_type = email.utils.collapse_rfc2231_value(msg.get_param("report-type") or "").strip().lower()
    if report_type:
        return report_type in {"delivery-status", "global-delivery-status"}
    return any(part.get_content_type() in _STATUS_TYPES for part in _children(msg))


def _children(msg: Message) -> list[Message]:
    payload = msg.get_payload()
    return [part for part in payload if isinstance(part, Message)] if isinstance(payload, list) else []


def _read_dsn(msg: Message, raw: bytes, ctx: RuleContext) -> BounceReport:
    recipients: list[_Recipient] = []
    returned: list[Message] = []
    for part in _children(msg):
        ctype = part.get_content_type()
        if ctype in _STATUS_TYPES:
            recipients.extend(_recipients(_part_text(part)))
        elif ctype in _RETURNED_TYPES:
            returned.append(part)
    failed = [r for r in recipients if r.action == "failed"]
    delayed = [r for r in recipients if r.action == "delayed"]
    reported = failed or delayed
    returned_ids = [mid for part in returned for mid in _returned_ids(part)]
    if returned_ids:
        # Only the returned message's own Message-ID says whose mail bounced (RFC 3464 §2: the third part).
        ours = _dedupe(mid for mid in returned_ids if is_own_message_id(mid, ctx))
    else:
        # No copy returned, or one without its Message-ID: the text part may still quote it.
        ours = _own_ids_in_text(_body_text(raw, msg), ctx)
    first = reported[0] if reported else None
    diagnostic = (first.diagnostic or first.status) if first else ""
    return BounceReport(
        our_message_ids=ours,
        failed_recipients=_dedupe(r.address for r in reported),
        permanent=bool(failed),
        diagnostic=diagnostic[:_MAX_DIAGNOSTIC],
    )


def _recipients(text: str) -> list[_Recipient]:
    """The per-recipient blocks of a delivery-status body (RFC 3464 §2.3), in order."""
    found: list[_Recipient] = []
    for block in re.split(r"\n[ \t]*\n", text.replace("\r\n", "\n")):
        fields = _fields(block)
        address = _address(fields.get("original-recipient", "")) or _address(
            fields.get("final-recipient", "")
        )
        if not address:
            continue  # the per-message block (Reporting-MTA, Arrival-Date, ...)
        status = decode_header_value(fields.get("status", ""))
        code = status.split(" ")[0].strip()
        action = fields.get("action", "").split(" ")[0].strip().lower()
        if not action:
            # Action is required (§2.3.3), but broken reporters omit it: the status class decides.
            action = {"5": "failed", "4": "delayed"}.get(code[:1], "")
        diagnostic = decode_header_value(fields.get("diagnostic-code", ""))  # also drops raw 8-bit bytes
        kind, sep, words = diagnostic.partition(";")
        if sep and " " not in kind.strip():
            diagnostic = words.strip()  # drop the diagnostic-type ("smtp; 550 ...")
        found.append(_Recipient(address, action, status, diagnostic))
    return found


def _fields(block: str) -> dict[str, str]:
    """Header-style fields of one block, unfolded; the first of each name wins."""
    fields: dict[str, str] = {}
    name = ""
    for line in block.split("\n"):
        if line[:1] in {" ", "\t"} and name:
            fields[name] = f"{fields[name]} {line.strip()}"
            continue
        key, sep, value = line.partition(":")
        if not sep:
            name = ""
            continue
        name = key.strip().lower()
        if name in fields:
            name = ""  # keep the first; ignore a repeated field's continuation lines too
            continue
        fields[name] = value.strip()
    return fields


def _address(value: str) -> str:
    """``rfc822; addr`` (RFC 3464 §2.3.2) -> lower-case addr-spec, or "" for other address types."""
    kind, sep, addr = value.partition(";")
    if not sep:
        kind, addr = "rfc822", value  # the type is required, but some reporters leave it out
    if kind.strip().lower() not in _ADDRESS_TYPES:
        return ""
    addr = decode_header_value(addr).strip().strip("<>").strip().lower()
    return addr if "@" in addr and " " not in addr else ""


def _part_text(part: Message) -> str:
    """The text of a message/* or text/* part, transfer encoding undone.

    The email package parses a message/delivery-status body into one sub-message per block and any other
    message/* body into a sub-message: those are flattened back to text, so every shape reads the same.
    """
    payload = part.get_payload()
    if isinstance(payload, list):
        text = "\n".join(_flatten(sub) for sub in payload if isinstance(sub, Message))
    else:
        data = part.get_payload(decode=True)
        return decode_bytes(data, None) if isinstance(data, bytes) else ""
    cte = str(part.get("content-transfer-encoding", "")).strip().lower()
    if cte == "base64":
        # Base64 of a message/* part isn't allowed (RFC 2046 §5.2.1) but RFC 6533 parts may have it.
        cleaned = re.sub(r"[^A-Za-z0-9+/=]", "", text)
        try:
            return decode_bytes(binascii.a2b_base64(cleaned + "=" * (-len(cleaned) % 4)), None)
        except (binascii.Error, ValueError):
            return text
    if cte == "quoted-printable":
        return decode_bytes(quopri.decodestring(text.encode("utf-8", "surrogateescape")), None)
    return text


def _flatten(sub: Message) -> str:
    lines = [f"{key}: {value}" for key, value in sub.items()]
    body = sub.get_payload()
    if isinstance(body, str) and body:
        lines.extend(["", body])
    return "\n".join(lines) + "\n"


def _returned_ids(part: Message) -> tuple[str, ...]:
    """The Message-ID of the returned message (full copy or headers only)."""
    payload = part.get_payload()
    if isinstance(payload, list):
        headers = payload[0] if payload and isinstance(payload[0], Message) else None
    else:
        headers = HeaderParser(policy=email.policy.compat32).parsestr(_part_text(part))
    if headers is None:
        return ()
    return tuple(re.findall(r"<[^<>\s]+>", decode_header_value(str(headers.get("message-id", "")))))


def _body_text(raw: bytes, msg: Message) -> str:
    """Everything after the top-level header block, as text.

    The top-level headers are skipped: our own reply arriving again (a loop) carries our Message-ID
    there, and that is not a bounce.  Encoded parts are decoded and appended: a returned copy sent as
    base64 would hide its headers otherwise.
    """
    text = decode_bytes(raw, None)
    found = re.search(r"\r?\n\r?\n", text)
    body = text[found.end() :] if found else ""
    decoded: list[str] = [body]
    for part in msg.walk():
        cte = str(part.get("content-transfer-encoding", "")).strip().lower()
        if not part.is_multipart() and cte in {"base64", "quoted-printable"}:
            data = part.get_payload(decode=True)
            if isinstance(data, bytes):
                decoded.append(
                    decode_bytes(data, email.utils.collapse_rfc2231_value(part.get_param("charset") or ""))
                )
    return "\n".join(decoded)


def _own_ids_in_text(text: str, ctx: RuleContext) -> tuple[str, ...]:
    """Our Message-IDs quoted anywhere in the text, except as In-Reply-To/References of another mail."""
    # Visible ASCII but angle brackets (RFC 5322 §3.6.4 msg-id); the bot's ids are hex.
    pattern = re.compile(
        rf"<[!-;=?-~]+{re.escape(MESSAGE_ID_MARK)}{re.escape(ctx.own_domain)}>", re.IGNORECASE
    )
    occurrences = itertools.islice(pattern.finditer(text), _MAX_OCCURRENCES)
    return _dedupe(
        found.group(0)
        for found in occurrences
        if is_own_message_id(found.group(0), ctx) and not _in_thread_field(text, found.start())
    )


def _in_thread_field(text: str, at: int) -> bool:
    """Whether position ``at`` lies in a quoted In-Reply-To or References field.

    Walks up through continuation lines (RFC 5322 §2.2.3: they start with a blank) to the line that names
    the field; any other line (text, a blank line) means the Message-ID is not in a header field.
    """
    lines = text[max(0, at - 20_000) : at].replace("\r\n", "\n").split("\n")
    lines = lines[-200:]
    for index in range(len(lines) - 1, -1, -1):
        line = lines[index]
        field = _FIELD_START.match(line)
        if field is not None:
            return field.group(1).lower() in _THREAD_FIELDS
        # The line holding the Message-ID is cut before it, so only blanks there are a continuation too.
        continued = line[:1] in {" ", "\t"} and (bool(line.strip()) or index == len(lines) - 1)
        if not continued:
            return False
    return False


def _smtp_line(text: str) -> str:
    """The first line quoting an SMTP reply with an enhanced status code (RFC 3463), else a qmail one.

    ``550 5.1.1 User unknown`` (Exim, Sendmail, Exchange), else ``... (#5.1.1)`` (qmail, QSBMF).
    """
    lines = text.splitlines()
    for pattern in (_SMTP_REPLY, _QMAIL_CODE):
        for line in lines:
            if pattern.search(line):
                return re.sub(r"\s+", " ", line).strip()[:_MAX_DIAGNOSTIC]
    return ""


def _dedupe(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))
