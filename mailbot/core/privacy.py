"""The privacy policy (DSGVO): what erased data looks like, when an event is due, what an erasure changed."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from mailbot.core.model import Event

# What erased text fields hold: recognisable in `list`, the CSV and `history`, and the mark of an erased row
# (a registration whose name is this and which has no address, phone or Message-ID is done).
ERASED = "[gelöscht]"
# Events the database knows but the config no longer lists keep the default retention of Event.
DEFAULT_RETENTION = timedelta(days=Event.delete_after_days)
# A reply queued this recently is still sent (a late mail about a past event gets its answer) and erased by a
# later purge; an older one that is still unsent is withdrawn: it will never go out.
SEND_GRACE = timedelta(days=1)
WITHDRAWN = "not sent: personal data erased"
RETENTION_ACTOR = "system (retention)"
FORGET_ACTOR = "admin (mailbot forget)"
OTHER_PERSON = "[…]"  # another person's (masked) address in a data export

# An address in free text, masked (``a***@example.org``, ``MAILER-DAEMON@…``) or not.
ADDRESS = re.compile(r"[^\s<>()\[\]{}'\",;:]*@[^\s<>()\[\]{}'\",;:]+")
# A quoted snippet of a mail (rules quote subjects, sender names and lines as Python reprs).
_QUOTED = re.compile(r"'(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\"")


def scrub(text: str) -> str:
    """Free text without any address (masked or not): each becomes ``[gelöscht]``."""
    return ADDRESS.sub(ERASED, text)


def scrub_reason(text: str) -> str:
    """A ledger reason or rule hit without addresses and without quoted snippets of the mail."""
    return scrub(_QUOTED.sub(f"'{ERASED}'", text))


def scrub_hits(rule_hits: str) -> str:
    """The JSON list of [rule, reason] with every reason scrubbed (the same text if nothing changed)."""
    try:
        hits = json.loads(rule_hits or "[]")
        cleaned = [[rule, scrub_reason(reason)] for rule, reason in hits]
    except (ValueError, TypeError):
        return scrub_reason(rule_hits)
    return rule_hits if cleaned == hits else json.dumps(cleaned, ensure_ascii=False)


def erase_at(event: Event) -> datetime:
    """When the event's personal data is due for erasure: `delete_after_days` after `starts_at`."""
    return event.starts_at + timedelta(days=event.delete_after_days)


@dataclass(frozen=True)
class Erased:
    """How many rows of each kind an erasure changed (or, in a dry run, would change)."""

    registrations: int = 0
    ledger: int = 0
    replies: int = 0
    withdrawn: int = 0  # of the replies: not sent yet, and now never sent
    audit: int = 0  # audit entries whose actor or detail named an address (entries added are not counted)

    @property
    def total(self) -> int:
        """Rows changed in all."""
        return self.registrations + self.ledger + self.replies + self.audit

    def __add__(self, other: Erased) -> Erased:
        return Erased(
            self.registrations + other.registrations,
            self.ledger + other.ledger,
            self.replies + other.replies,
            self.withdrawn + other.withdrawn,
            self.audit + other.audit,
        )

    def describe(self) -> str:
        """One line for admins, e.g. ``80 registration(s), 88 ledger entry(ies), 83 reply(ies), ...``."""
        text = (
            f"{self.registrations} registration(s), {self.ledger} ledger entry(ies), "
            f"{self.replies} reply(ies), {self.audit} audit entry(ies)"
        )
        return text + (f"; {self.withdrawn} unsent reply(ies) withdrawn" if self.withdrawn else "")


@dataclass(frozen=True)
class EventPurge:
    """One event whose personal data was erased (or would be, in a dry run)."""

    event_id: str
    erase_at: datetime
    erased: Erased


@dataclass(frozen=True)
class PurgeReport:
    """What a purge did: per event due, for old mail tied to no event, and which events are not due yet."""

    events: tuple[EventPurge, ...]
    unlinked: Erased  # ledger rows of mail tied to no event (not-registration, machines, ...)
    unlinked_before: datetime | None  # their cutoff (recorded before it); None: not swept this time
    not_due: tuple[tuple[str, datetime], ...]  # (event id, erase date), soonest first
    dry_run: bool

    @property
    def erased(self) -> Erased:
        """Everything together."""
        total = self.unlinked
        for item in self.events:
            total += item.erased
        return total


@dataclass(frozen=True)
class ForgetReport:
    """What `forget` did for one person (right to erasure, Art. 17 DSGVO)."""

    masked: str  # the address, masked, for output and logs
    cancelled: tuple[str, ...]  # events whose active registration was cancelled first (seat given on)
    promoted: tuple[str, ...]  # who moved up into a freed seat (lines as `cancel` prints them)
    erased: Erased
