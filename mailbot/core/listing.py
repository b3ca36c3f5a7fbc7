"""What the staff console reads: an event's list page, audit lines, triage lines, a mailing's progress."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

PAGE_SIZE = 100  # registrations per page of an event's list


@dataclass(frozen=True)
class RegistrationLine:
    """One registration as the event's list shows it (seat and waitlist place count the whole event)."""

    id: int
    position: int  # arrival number, cancelled registrations included
    status: str
    seat: int | None
    waitlist_place: int | None
    name: str
    email: str
    phone: str
    channel: str
    received_at: datetime
    replied_at: datetime | None
    reply_status: str  # sent | pending | failed | undeliverable | none


@dataclass(frozen=True)
class ListQuery:
    """Which registrations of an event a list page shows: a status, a search text, a page (from 1)."""

    status: str | None = None
    search: str = ""
    page: int = 1


@dataclass(frozen=True)
class RegistrationPage:
    """One page of an event's list, and how many registrations match in all."""

    lines: tuple[RegistrationLine, ...]
    total: int
    page: int

    @property
    def pages(self) -> int:
        """How many pages the matching registrations fill (at least one)."""
        return max(1, -(-self.total // PAGE_SIZE))


@dataclass(frozen=True)
class AuditLine:
    """One change of a registration: when, who, what, old -> new status."""

    at: datetime
    registration_id: int | None
    position: int | None
    name: str
    actor: str
    action: str
    old_status: str | None
    new_status: str | None
    detail: str


@dataclass(frozen=True)
class TriageLine:
    """A mail staff should look at (quarantined, held, not answered, bounced), by its ledger id."""

    ledger_id: int
    internaldate: datetime
    uid: int
    outcome: str
    sender: str
    subject: str
    reason: str


@dataclass(frozen=True)
class FailedReply:
    """A reply the SMTP server refused for good."""

    outbox_id: int
    recipient: str
    kind: str
    error: str


@dataclass(frozen=True)
class MailTrail:
    """A mail's decision trail (what `mailbot inspect` shows): its ledger entry and every rule that hit."""

    ledger_id: int
    folder: str
    uidvalidity: int
    uid: int
    message_id: str
    internaldate: datetime
    processed_at: datetime
    sender: str
    subject: str
    intent: str
    outcome: str
    reason: str
    rule_hits: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class MailingProgress:
    """A mailing of one event (e.g. the access data): who was served, and its mails sent/pending/failed."""

    served: int  # confirmed registrations that have had it queued
    sent: int
    pending: int
    failed: int
