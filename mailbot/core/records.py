"""Records the store hands out: summaries, export rows, claimed replies (plain values, no ORM rows)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from mailbot.core.model import Status


class ClaimedReply(NamedTuple):
    """A reply claimed for sending (Tx.claim_due_outbox): what the SMTP transaction and its record need."""

    id: int
    envelope_from: str
    recipient: str
    data: bytes
    attempts: int


@dataclass(frozen=True)
class EventSummary:
    """The numbers `mailbot status` shows for one event."""

    event_id: str
    capacity: int
    confirmed: int
    waitlisted: int
    cancelled: int
    replies_pending: int
    replies_failed: int
    undeliverable: int = 0


@dataclass(frozen=True, slots=True)
class Registration:
    """One registration as stored: a person's claim to a seat (or waitlist place) for one event."""

    id: int
    event_id: str
    position: int
    status: Status
    name: str
    email: str | None
    email_normalized: str | None
    channel: str
    received_at: datetime
    ledger_id: int | None
    message_id: str | None
    created_at: datetime
    replied_at: datetime | None = None
    cancelled_at: datetime | None = None
    phone: str | None = None
    access_sent_at: datetime | None = None
    reminder_sent_at: datetime | None = None
    promoted_at: datetime | None = None
    undeliverable_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One processed message of the mailbox with its verdict."""

    id: int
    folder: str
    uidvalidity: int
    uid: int
    message_id: str | None
    internaldate: datetime
    size: int
    outcome: str
    intent: str | None
    reason: str
    rule_hits: str  # JSON list of [rule, reason]
    sender: str | None
    subject: str | None
    processed_at: datetime
    flagged: bool
    content_hash: str | None = None
    decoded_hash: str | None = None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One change of a registration: who, what, when, old -> new status."""

    id: int
    at: datetime
    event_id: str
    registration_id: int | None
    actor: str
    action: str
    old_status: str | None
    new_status: str | None
    detail: str


@dataclass(frozen=True, slots=True)
class FailedReply:
    """A reply the SMTP server refused for good."""

    id: int
    event_id: str | None
    kind: str
    recipient: str
    attempts: int
    failed_at: datetime | None
    last_error: str | None


SYSTEM_ACTOR = "system"  # who made a change no person asked for (a promotion when a seat became free)


class AuditAction(enum.StrEnum):
    """What happened to a registration, as the audit log names it."""

    REGISTERED = "registered"
    CANCELLED = "cancelled"
    PROMOTED = "promoted"
    ERASED = "erased"  # its personal data went (mailbot.privacy)


def reply_state(*, undeliverable: bool, sent: bool | None, failed: bool | None) -> str:
    """The state of the latest reply about a registration as admins read it (None: no reply queued).

    undeliverable (a reply bounced), none, sent, failed (refused for good) or pending.
    """
    if undeliverable:
        return "undeliverable"
    if sent is None:
        return "none"
    if sent:
        return "sent"
    return "failed" if failed else "pending"


@dataclass(frozen=True, slots=True)
class Reply:
    """One reply in the outbox as stored: committed with its decision, sent later (or withdrawn)."""

    id: int
    event_id: str | None
    registration_id: int | None
    ledger_id: int | None
    kind: str
    envelope_from: str
    recipient: str
    recipient_normalized: str
    message_id: str
    data: bytes
    created_at: datetime
    next_attempt_at: datetime
    attempts: int = 0
    sent_at: datetime | None = None
    failed_at: datetime | None = None
    last_error: str | None = None
    bounced_at: datetime | None = None
