"""The store port's repositories, one Protocol per aggregate, each taking and returning core values."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from mailbot.core.model import Event, EventCounts, Existing, ExportRow, ReplyStatus, Status
from mailbot.core.records import (
    AuditEntry,
    ClaimedReply,
    EventSummary,
    FailedReply,
    LedgerEntry,
    Registration,
    Reply,
)


class Registrations(Protocol):
    """Events and their registrations: seats and waitlist places, mailings served, promotions."""

    def sync_events(self, events: Sequence[Event]) -> None:
        """Insert or update the configured events."""

    def lock_event(self, event_id: str) -> None:
        """Serialise seat allocation for one event until the end of the unit of work."""

    def counts(self, event_id: str) -> EventCounts:
        """Confirmed, waitlisted and all registrations of the event."""

    def existing(self, event_id: str, email_normalized: str) -> Existing | None:
        """The person's active registration for the event as the booking sees it, or None."""

    def existing_of(self, registration: Registration) -> Existing:
        """A registration as the booking sees it: status, position, current seat or waitlist place."""

    def add_registration(
        self,
        *,
        event_id: str,
        position: int,
        status: Status,
        name: str,
        email: str | None,
        email_normalized: str | None,
        channel: str,
        received_at: datetime,
        ledger_id: int | None,
        message_id: str | None,
        now: datetime,
        actor: str,
        phone: str | None = None,
    ) -> int:
        """Store a registration (and its audit entry); returns its id."""

    def cancel_row(self, registration: Registration, now: datetime, actor: str) -> int:
        """Cancel one registration (audited); returns its id."""

    def registration(self, registration_id: int) -> Registration | None:
        """A registration by id."""

    def registrations(self, event_id: str, status: str | None = None) -> list[Registration]:
        """An event's registrations in arrival order, optionally of one status."""

    def active_row(self, event_id: str, email_normalized: str) -> Registration | None:
        """The person's active registration for the event (the +tag folded if configured), or None."""

    def active_by_phone(self, event_id: str, phone: str) -> Registration | None:
        """The active registration with this phone number."""

    def last_received(self, event_id: str) -> datetime | None:
        """When the event's latest registration (of any status) was received."""

    def unserved(self, event_id: str, mailing: ReplyStatus) -> list[Registration]:
        """Confirmed registrations with an address that haven't had this mailing (access, reminder) yet."""

    def mark_served(self, registration_id: int, mailing: ReplyStatus, now: datetime) -> None:
        """Record that a registration got a mailing (access or reminder)."""

    def access_started(self, event_id: str) -> bool:
        """Whether the access data of the event has gone out to anyone."""

    def waitlist_head(self, event_id: str, count: int) -> list[Registration]:
        """The first `count` waitlisted registrations in arrival order (strict FIFO)."""

    def promote(self, registration_id: int, now: datetime) -> int:
        """Give a waitlisted registration a seat (audited); returns its seat number among the confirmed."""

    def history(
        self, event_id: str, email_normalized: str | None = None
    ) -> list[tuple[AuditEntry, Registration]]:
        """Audit entries of an event (or of one person in it), oldest first, with their registration."""

    def audit(
        self,
        event_id: str,
        registration_id: int,
        *,
        actor: str,
        action: str,
        old: str | None,
        new: str | None,
        now: datetime,
        detail: str = "",
    ) -> None:
        """Write one audit entry for a registration."""


class Ledger(Protocol):
    """Every processed message of the mailbox, keyed by (folder, UIDVALIDITY, UID), with its verdict."""

    def add_ledger(
        self,
        *,
        folder: str,
        uidvalidity: int,
        uid: int,
        message_id: str | None,
        internaldate: datetime,
        size: int,
        outcome: str,
        reason: str,
        rule_hits: Sequence[tuple[str, str]],
        sender: str | None,
        subject: str | None,
        now: datetime,
        intent: str | None = None,
        content_hash: str | None = None,
        decoded_hash: str | None = None,
    ) -> int:
        """Record a processed message (in a savepoint); raises DuplicateMessageError if recorded already."""

    def first_by_hash(
        self, content_hashes: Sequence[str], decoded_hashes: Sequence[str] = ()
    ) -> dict[str, tuple[str, int, int]]:
        """For each content or decoded hash already in the ledger: (folder, UIDVALIDITY, UID) of its first."""

    def first_by_message_id(self, message_ids: Sequence[str]) -> dict[str, tuple[str, int, int, str, str]]:
        """Entries without a decoded hash, by Message-ID: where the first was, its sender and subject."""

    def set_ledger_outcome(self, ledger_id: int, outcome: str, reason: str) -> None:
        """Update the verdict of an entry written earlier in this unit of work."""

    def verdicts(
        self,
        folder: str,
        uidvalidity: int,
        *,
        uids: Sequence[int] | None = None,
        outcomes: Sequence[str] | None = None,
    ) -> list[LedgerEntry]:
        """The folder's entries (of these UIDs, of these outcomes), in arrival order."""

    def reopen(self, folder: str, uidvalidity: int, uids: Sequence[int], outcomes: Sequence[str]) -> None:
        """Drop the verdicts of these mails (only of these outcomes), so they are decided again."""

    def processed_uids(self, folder: str, uidvalidity: int) -> set[int]:
        """UIDs of the folder already in the ledger."""

    def unflagged_uids(self, folder: str, uidvalidity: int, outcomes: Sequence[str]) -> list[int]:
        """Mails committed but not yet marked/moved (a crash came between)."""

    def mark_flagged(self, folder: str, uidvalidity: int, uids: Sequence[int]) -> None:
        """Remember that these messages were marked/moved."""

    def ledger_entries(self, key: str) -> list[LedgerEntry]:
        """Entries by UID (digits) or Message-ID."""


class Outbox(Protocol):
    """Replies committed with the decision they report (invariant 5), and their delivery."""

    def add_outbox(
        self,
        *,
        event_id: str | None,
        registration_id: int | None,
        ledger_id: int | None,
        kind: str,
        envelope_from: str,
        recipient: str,
        recipient_normalized: str,
        message_id: str,
        data: bytes,
        now: datetime,
    ) -> int:
        """Queue a reply in the same unit of work as the decision it reports."""

    def replies_to(self, recipient_normalized: str, since: datetime) -> tuple[int, int]:
        """Replies queued to an address since then: (all but limit notices, limit notices)."""

    def events_of_replies(self, message_ids: Sequence[str]) -> list[str]:
        """The events our replies with these Message-IDs were about."""

    def find_reply(
        self, message_ids: Sequence[str], recipients: Sequence[str], recent_since: datetime | None = None
    ) -> int | None:
        """Our reply a bounce is about: by its Message-ID, else a recent one to a failed recipient."""

    def mark_bounced(self, outbox_id: int, now: datetime) -> str:
        """Record a bounce of our reply and flag its registration undeliverable; returns the recipient."""

    def answers_our_mail_to(self, references: Sequence[str], registration: Registration) -> bool:
        """Whether one of these Message-IDs is a mail we sent to the registration's address (invariant 8)."""

    def confirmation_requested(self, registration_id: int, since: datetime) -> bool:
        """Whether the registration's address was asked to confirm a cancellation since then."""

    def sent_since(self, since: datetime) -> int:
        """How many replies the SMTP server accepted since then."""

    def recipients_sent_since(self, since: datetime) -> list[str]:
        """The normalised recipient of each reply the SMTP server accepted since then."""

    def recipients_of(self, outbox_ids: Sequence[int]) -> dict[int, str]:
        """The normalised recipient of each of these replies, by id."""

    def pending_replies(self) -> int:
        """Replies waiting to be sent."""

    def claim_due_outbox(self, now: datetime, limit: int, lease_until: datetime) -> list[ClaimedReply]:
        """Claim unsent, not failed, due replies, oldest first, until `lease_until`."""

    def mark_sent(self, replies: Sequence[tuple[int, datetime]]) -> None:
        """Record replies the server accepted (outbox id, when)."""

    def release(self, outbox_ids: Sequence[int], now: datetime) -> None:
        """Give claimed but unsent replies back: due again right now."""

    def release_claim(self, outbox_ids: Sequence[int], lease_until: datetime, now: datetime) -> int:
        """Give back the replies still held by one claim: due again now; how many."""

    def release_kind(self, event_id: str, kind: str, now: datetime) -> None:
        """Make every unsent, not failed mail of one kind for an event due right now."""

    def mark_failed(
        self, outbox_id: int, now: datetime, error: str, *, permanent: bool, retry_at: datetime
    ) -> None:
        """A refused reply: permanently failed (5xx) or retried later (4xx, connection trouble)."""


class State(Protocol):
    """Small named values of the bot's own state."""

    def set_state(self, key: str, value: str) -> None:
        """Store a named value."""

    def clear_state(self, key: str) -> None:
        """Forget a named value."""

    def get_state(self, key: str) -> str | None:
        """A named value, or None."""


class Reports(Protocol):
    """What `mailbot status`, triage and the exports read."""

    def summaries(self) -> list[EventSummary]:
        """Per event: capacity, confirmed, waitlisted, cancelled, replies pending and failed."""

    def triage(self, outcomes: Sequence[str]) -> list[LedgerEntry]:
        """Entries that need a person: these outcomes, or replies held back by a limit; oldest first."""

    def failed_replies(self) -> list[FailedReply]:
        """Replies the SMTP server refused for good, oldest first."""

    def ledger_counts(self) -> dict[str, int]:
        """How many messages the ledger holds per outcome."""

    def export_rows(self, event_id: str | None) -> list[ExportRow]:
        """Registrations in arrival order (per event), with the state of the latest reply."""


class Privacy(Protocol):
    """What retention, forgetting and a person's export read, and the field changes erasure makes."""

    def event_starts(self) -> dict[str, datetime]:
        """Every event the store knows (configured now or earlier) with its start."""

    def registrations_of_events(self, event_ids: Collection[str], erased_mark: str) -> list[Registration]:
        """The registrations (any status) of these events that still hold personal data."""

    def registrations_of_person(self, email_normalized: str) -> list[Registration]:
        """All registrations (any event, any status) of one normalised address, oldest first."""

    def event_ledger_ids(self, event_ids: Collection[str]) -> set[int]:
        """Ledger entries tied to these events: the mails behind their registrations and those answered."""

    def replies_about(
        self,
        *,
        event_ids: Collection[str] = (),
        registration_ids: Collection[int] = (),
        recipient_normalized: str | None = None,
        erased_mark: str | None = None,
    ) -> list[Reply]:
        """Replies about these events, registrations, or to this address (`erased_mark`: not erased yet)."""

    def ledger_by_ids(self, ledger_ids: Collection[int], erased_mark: str | None = None) -> list[LedgerEntry]:
        """Ledger entries by id, in id order; with `erased_mark`, only those still holding personal data."""

    def ledger_senders(self) -> list[str]:
        """Every distinct sender address the ledger still holds."""

    def ledger_ids_from(self, senders: Collection[str]) -> set[int]:
        """Ids of the ledger entries whose sender is one of these (exactly as stored)."""

    def ledger_links(self, ledger_ids: Collection[int]) -> dict[int, set[str]]:
        """For each ledger entry, the events a registration or a reply ties it to (absent: none)."""

    def unlinked_ledger(self, recorded_before: datetime, erased_mark: str) -> list[LedgerEntry]:
        """Entries recorded before then, tied to no registration and no reply, still holding personal data."""

    def audit_entries(
        self,
        *,
        event_ids: Collection[str] = (),
        registration_ids: Collection[int] = (),
        with_address_only: bool = False,
    ) -> list[AuditEntry]:
        """Audit entries of these events or registrations, oldest first (optionally: naming an address)."""

    def mentioning(self, needles: Sequence[str]) -> tuple[list[LedgerEntry], list[AuditEntry], list[Reply]]:
        """Entries whose free text (reason, rule hits, actor, detail, error) has a needle (any case)."""

    def change_registration(self, registration_id: int, changes: Mapping[str, object]) -> None:
        """Set these fields of a registration (the value's field names)."""

    def change_ledger(self, ledger_id: int, changes: Mapping[str, object]) -> None:
        """Set these fields of a ledger entry."""

    def change_reply(self, outbox_id: int, changes: Mapping[str, object]) -> None:
        """Set these fields of a reply."""

    def change_audit(self, audit_id: int, changes: Mapping[str, object]) -> None:
        """Set these fields of an audit entry."""
