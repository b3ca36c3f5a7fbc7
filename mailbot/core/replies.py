"""Decision -> the reply mail: headers that mark it as an auto-reply (RFC 3834) and the templated text."""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from email.utils import format_datetime, parseaddr

from mailbot.core.mime import MAX_OCTETS, Mail, Value
from mailbot.core.model import Address, Decision, Event, ReplyStatus, Status

_REPLY_PREFIX = re.compile(r"^\s*(re|aw|antw|sv|vs)\s*:", re.IGNORECASE)
_MAX_REFERENCES = 10
# A sender's subject or name is echoed in the reply's header up to this many characters (then "…"): folding
# keeps every line short whatever the length, but MTAs cap a header's total size (Postfix: 100 KB, then cut).
MAX_ECHOED = 1000
# A msg-id can't be folded or encoded (RFC 5322 §3.6.4): one that can't fit a line is left out of the reply.
_MAX_MSG_ID = MAX_OCTETS - len("In-Reply-To: ")

_WEEKDAYS = {
    "de": ("Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}
_MONTHS = {
    "de": (
        "Januar",
        "Februar",
        "März",
        "April",
        "Mai",
        "Juni",
        "Juli",
        "August",
        "September",
        "Oktober",
        "November",
        "Dezember",
    ),
    "en": (
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ),
}


@dataclass(frozen=True)
class ReplySettings:
    """What the shell supplies to build replies: identity, clock value, language and template texts."""

    sender: str  # "Display Name <address>"
    timezone: tzinfo
    language: str
    templates: Mapping[str, str]  # template name -> text with $placeholders


def template_name(decision: Decision) -> str:
    """Which template answers a decision (duplicate and status answers add the registration's status)."""
    if decision.reply in (ReplyStatus.DUPLICATE, ReplyStatus.STATUS) and decision.status is not None:
        return f"{decision.reply.value}-{decision.status.value}"
    return decision.reply.value


def reply_subject(original: str, fallback: str) -> str:
    """``Re: <original subject>``, without stacking a second prefix (Re:, AW:, ...); cut after MAX_ECHOED."""
    subject = _cut(" ".join(original.split())) or fallback
    if _REPLY_PREFIX.match(subject):
        return subject
    return f"Re: {subject}"


@functools.lru_cache(maxsize=64)
def format_when(event: Event, tz: tzinfo, language: str) -> str:
    """The event's date and time in the desk's time zone, written out for people."""
    start = event.starts_at.astimezone(tz)
    lang = language if language in _WEEKDAYS else "de"
    weekday = _WEEKDAYS[lang][start.weekday()]
    month = _MONTHS[lang][start.month - 1]
    hours = f"{start:%H:%M}"
    if event.ends_at is not None:
        hours += f"–{event.ends_at.astimezone(tz):%H:%M}"
    if lang == "de":
        return f"{weekday}, {start.day}. {month} {start.year}, {hours} Uhr"
    return f"{weekday}, {start.day} {month} {start.year}, {hours}"


def format_moment(moment: datetime, tz: tzinfo, language: str) -> str:
    """A point in time written out for people, in the desk's time zone."""
    local = moment.astimezone(tz)
    lang = language if language in _WEEKDAYS else "de"
    text = f"{_WEEKDAYS[lang][local.weekday()]}, {local.day}. {_MONTHS[lang][local.month - 1]} {local.year}"
    if lang == "en":
        text = text.replace(f"{local.day}. ", f"{local.day} ")
    return f"{text}, {local:%H:%M}" + (" Uhr" if lang == "de" else "")


def _date(now: datetime) -> str:
    """The Date header (RFC 5322 §3.3); replies written in the same second share it."""
    return _date_of_second(now.replace(microsecond=0), now.tzinfo)


@functools.lru_cache(maxsize=8)
def _date_of_second(now: datetime, zone: tzinfo | None) -> str:  # noqa: ARG001
    # `zone` is part of the cache key: the same instant in another zone is written with that zone's offset.
    return format_datetime(now)


def _greeting(name: str, language: str) -> str:
    if language == "en":
        return f"Dear {name}," if name else "Hello,"
    return f"Guten Tag {name}," if name else "Guten Tag,"


def _one_line(text: str) -> str:
    """No CR/LF or control characters may reach a header (header injection).

    "=?" is broken up too: the email package decodes RFC 2047 encoded-words in values it is given, so a
    literal ``=?utf-8?q?Evil=0D=0ABcc:...?=`` (a doubly encoded name or subject) would come back as CR/LF
    and be written out as a header of its own (CPython gh-121650).
    """
    if not text.isprintable():
        text = "".join(ch if ch.isprintable() else " " for ch in text)
    return " ".join(text.replace("=?", "= ?").split())


def _cut(text: str) -> str:
    """`text` with at most MAX_ECHOED characters, "…" marking a cut."""
    return text if len(text) <= MAX_ECHOED else text[: MAX_ECHOED - 1].rstrip() + "…"


def _threading_ids(ids: tuple[str, ...]) -> tuple[str, ...]:
    """The msg-ids that can go into In-Reply-To and References as they are: ASCII, without blanks (after
    `_one_line`), short enough for a line. Any other can't be folded or encoded, and is left out."""
    return tuple(
        one for one in map(_one_line, ids) if one.isascii() and " " not in one and len(one) <= _MAX_MSG_ID
    )


def access_block(event: Event, language: str, *, include: bool) -> str:
    """The access data as a paragraph when included, else the promise that they follow."""
    if not include:
        if language == "en":
            return "You will receive the access details in a separate email before the event.\n"
        return "Die Zugangsdaten erhalten Sie rechtzeitig vor der Veranstaltung mit einer weiteren E-Mail.\n"
    if not event.access_info:
        return ""
    heading = "Your access details:" if language == "en" else "Ihre Zugangsdaten:"
    return f"{heading}\n\n{event.access_info.strip()}\n"


_GAPS = re.compile(r"\n{3,}")


def render_body(
    event: Event,
    decision: Decision,
    recipient: Address,
    settings: ReplySettings,
    *,
    with_access: bool = False,
) -> str:
    """The reply text from the template for this decision; `$access_block` holds the access data if wanted."""
    template = string.Template(settings.templates[template_name(decision)])
    text = template.safe_substitute(
        access_block=access_block(event, settings.language, include=with_access),
        greeting=_greeting(_one_line(recipient.name), settings.language),
        name=_one_line(recipient.name),
        title=event.title,
        keyword=event.keyword,
        when=format_when(event, settings.timezone, settings.language),
        seat=decision.seat if decision.seat is not None else "",
        capacity=event.capacity,
        waitlist_position=decision.waitlist_position if decision.waitlist_position is not None else "",
        position=decision.position,
        location=event.location,
        opens=format_moment(event.opens_at, settings.timezone, settings.language) if event.opens_at else "",
    )
    return _GAPS.sub("\n\n", text)  # an empty $access_block leaves no gap


@functools.lru_cache(maxsize=16)
def _mailbox(sender: str) -> tuple[str, str]:
    """The configured sender as (display name, address)."""
    return parseaddr(sender)


def build_reply(
    *,
    event: Event,
    decision: Decision,
    recipient: Address,
    original_subject: str,
    original_message_id: str | None,
    subject: str | None = None,
    with_access: bool = False,
    original_references: tuple[str, ...],
    message_id: str,
    now: datetime,
    settings: ReplySettings,
) -> Mail:
    """The reply to one keyword mail: exactly one recipient, marked as an automatic reply.

    Headers: In-Reply-To/References thread it (RFC 5322 §3.6.4); ``Auto-Submitted: auto-replied``
    (RFC 3834 §5) and ``X-Auto-Response-Suppress: All`` keep other robots from answering it;
    ``X-Mailbot-Status`` is the contract for tests and admins' filters. The citizen's mail is never
    quoted or attached (no backscatter).
    """
    address = _one_line(recipient.address)
    headers: list[tuple[str, Value]] = [
        ("From", _mailbox(settings.sender)),
        ("To", (_cut(_one_line(recipient.name)), address)),
        (
            "Subject",
            _one_line(subject) if subject else reply_subject(_one_line(original_subject), event.title),
        ),
        ("Date", _date(now)),
        ("Message-ID", message_id),
    ]
    in_reply_to = _threading_ids((original_message_id,)) if original_message_id else ()
    if original_message_id and in_reply_to:
        refs = _threading_ids((*original_references, original_message_id))[-_MAX_REFERENCES:]
        headers += [
            ("In-Reply-To", in_reply_to[0]),
            ("References", " ".join(refs)),
        ]
    headers += [
        ("Auto-Submitted", "auto-replied"),
        ("X-Auto-Response-Suppress", "All"),
        ("X-Mailbot-Status", decision.reply.value),
        ("X-Mailbot-Event", event.id),
    ]
    text = render_body(event, decision, recipient, settings, with_access=with_access)
    return Mail(address, message_id, headers, text, language=settings.language)


def build_alert(
    *, to: str, subject: str, body: str, message_id: str, now: datetime, settings: ReplySettings
) -> Mail:
    """A notice to an admin: marked auto-generated (RFC 3834 §5) and X-Mailbot-Status: alert."""
    headers: list[tuple[str, Value]] = [
        ("From", _mailbox(settings.sender)),
        ("To", ("", _one_line(to))),
        ("Subject", _one_line(subject)),
        ("Date", _date(now)),
        ("Message-ID", message_id),
        ("Auto-Submitted", "auto-generated"),
        ("X-Auto-Response-Suppress", "All"),
        ("X-Mailbot-Status", "alert"),
    ]
    return Mail(_one_line(to), message_id, headers, body)


def status_label(status: Status, language: str) -> str:
    """A registration status in words."""
    labels = {
        "de": {Status.CONFIRMED: "bestätigt", Status.WAITLISTED: "Warteliste", Status.CANCELLED: "storniert"},
        "en": {Status.CONFIRMED: "confirmed", Status.WAITLISTED: "waitlist", Status.CANCELLED: "cancelled"},
    }
    return labels.get(language, labels["de"])[status]
