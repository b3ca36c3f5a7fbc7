"""Records the store hands out: summaries, export rows, claimed replies (plain values, no ORM rows)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple


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
