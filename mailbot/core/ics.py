"""An event as an RFC 5545 calendar file (.ics), attached to replies so people can add it to a calendar."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr

from mailbot.core.mime import Attachment, Mail
from mailbot.core.model import Event

PRODID = "-//mailbot//mailbot//DE"
_MAX_LINE_OCTETS = 75  # RFC 5545 §3.1: content lines SHOULD NOT be longer than 75 octets, excluding CRLF
_ALARM_BEFORE = "-PT1H"  # RFC 5545 §3.3.6 duration: one hour before DTSTART


def _utc(value: datetime, what: str) -> str:
    """DATE-TIME form #2, UTC (RFC 5545 §3.3.5): no VTIMEZONE block is needed, every client converts it."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {value.isoformat()}")
    t = value.astimezone(UTC)
    return f"{t.year:04d}{t.month:02d}{t.day:02d}T{t.hour:02d}{t.minute:02d}{t.second:02d}Z"


@functools.lru_cache(maxsize=256)  # an event's title, description and location come again with every reply
def _text(value: str) -> str:
    r"""A TEXT value (RFC 5545 §3.3.11): escape ``\ ; ,``, line breaks as ``\n``, other controls dropped.

    CONTROL characters other than HTAB are not allowed in TEXT; they are replaced by a space.
    """
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    value = value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")
    return "".join(" " if (ord(ch) < 0x20 and ch != "\t") or ord(ch) == 0x7F else ch for ch in value)


def _param(value: str) -> str:
    """A parameter value as a quoted-string (RFC 5545 §3.1: QSAFE-CHAR excludes DQUOTE and CONTROL)."""
    safe = "".join(" " if ord(ch) < 0x20 or ord(ch) == 0x7F else ch for ch in value).replace('"', "'")
    return f'"{" ".join(safe.split())}"'


@functools.lru_cache(maxsize=256)  # as _text: the event's own lines are the long ones
def _fold(line: str) -> bytes:
    """One content line, UTF-8, folded at 75 octets (RFC 5545 §3.1) without splitting a character.

    A continuation line starts with one space, which unfolding removes together with the CRLF before it.
    """
    whole = line.encode("utf-8", errors="replace")
    if len(whole) <= _MAX_LINE_OCTETS:
        return whole + b"\r\n"
    lines: list[bytes] = []
    current = bytearray()
    for ch in line:
        encoded = ch.encode("utf-8", errors="replace")  # a lone surrogate becomes "?" instead of failing
        if len(current) + len(encoded) > _MAX_LINE_OCTETS:
            lines.append(bytes(current))
            current = bytearray(b" ")
        current += encoded
    lines.append(bytes(current))
    return b"".join(part + b"\r\n" for part in lines)


@functools.lru_cache(maxsize=16)
def _organizer(organizer: str) -> str:
    """ORGANIZER as a mailto: URI, with CN when the address has a display name (RFC 5545 §3.8.4.3)."""
    name, address = parseaddr(organizer)
    if "@" not in address or any(ch.isspace() or not ch.isprintable() for ch in address):
        raise ValueError(f"organizer has no usable address: {organizer!r}")
    cn = f";CN={_param(name)}" if name.strip() else ""
    return f"ORGANIZER{cn}:mailto:{address}"


def event_calendar(
    event: Event,
    *,
    uid: str,
    now: datetime,
    organizer: str,
    description: str = "",
    location: str = "",
    duration_if_open: timedelta = timedelta(hours=2),
) -> bytes:
    """The event as a VCALENDAR with one VEVENT (METHOD:PUBLISH, RFC 5546 §3.2.1), UTF-8 with CRLF lines.

    ``uid`` must stay the same for every file of the same event and person, so that a reminder's file
    updates the calendar entry instead of duplicating it (RFC 5545 §3.8.4.7). ``now`` becomes DTSTAMP.
    The event ends at ``ends_at``, or ``duration_if_open`` after it starts. DESCRIPTION and LOCATION
    are written only when given. One display alarm one hour before the start.
    """
    if not uid.strip():
        raise ValueError("uid must not be empty")
    start = event.starts_at
    if event.ends_at is not None:
        end = event.ends_at
    elif duration_if_open > timedelta(0):
        end = start + duration_if_open
    else:
        raise ValueError(f"duration_if_open must be positive, got {duration_if_open}")
    dtstart, dtend = _utc(start, "starts_at"), _utc(end, "ends_at")
    if end <= start:
        raise ValueError(f"event {event.id!r} ends before it starts")
    summary = _text(event.title)

    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "BEGIN:VEVENT",
        f"UID:{_text(uid)}",
        f"DTSTAMP:{_utc(now, 'now')}",
        f"DTSTART:{dtstart}",
        f"DTEND:{dtend}",
        f"SUMMARY:{summary}",
    ]
    if description:
        lines.append(f"DESCRIPTION:{_text(description)}")
    if location:
        lines.append(f"LOCATION:{_text(location)}")
    lines += [
        _organizer(organizer),
        "STATUS:CONFIRMED",
        "TRANSP:OPAQUE",
        # RFC 5545 §3.6.6: a DISPLAY alarm needs ACTION, TRIGGER and DESCRIPTION.
        "BEGIN:VALARM",
        "ACTION:DISPLAY",
        f"TRIGGER:{_ALARM_BEFORE}",
        f"DESCRIPTION:{summary}",
        "END:VALARM",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return b"".join(_fold(line) for line in lines)


def attach_calendar(msg: Mail, calendar: bytes, filename: str = "veranstaltung.ics") -> None:
    """Attach a calendar file: ``text/calendar; charset=utf-8; method=PUBLISH`` (RFC 5545 §8.1).

    The mail becomes multipart/mixed with its text part first, unchanged; the headers that are not
    Content-* (X-Mailbot-Status, Auto-Submitted, ...) stay on the outer message. Base64 keeps the file's
    CRLF line ends and long folded lines intact through any mail transport.
    """
    msg.attachments.append(
        Attachment(calendar, "text", "calendar", filename, (("charset", "utf-8"), ("method", "PUBLISH")))
    )
