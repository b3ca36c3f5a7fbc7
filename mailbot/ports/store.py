"""The store port: units of work whose repositories take and return core values (adapters/db/ is one)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Protocol

from mailbot.core.listing import (
    AuditLine,
    ListQuery,
    MailingProgress,
    MailTrail,
    RegistrationLine,
    RegistrationPage,
    TriageLine,
)
from mailbot.core.listing import FailedReply as FailedReplyLine
from mailbot.core.model import ReplyStatus
from mailbot.ports.repositories import Ledger, Outbox, Privacy, Registrations, Reports, State


class DuplicateMessageError(Exception):
    """The ledger already holds this message (another process was faster): nothing to do."""


class BufferedWriteError(Exception):
    """A batch's held-back inserts failed to write (a constraint another process beat us to): the whole
    transaction is void; decide the batch again without the buffer, mail by mail."""


class ConsoleReads(Protocol):
    """What the staff console reads, by pages (a read-only unit of work: `Store.reading()`)."""

    def registration_page(self, event_id: str, query: ListQuery) -> RegistrationPage:
        """A page of the event's registrations in arrival order, filtered by status and a search text."""

    def registration_line(self, event_id: str, registration_id: int) -> RegistrationLine | None:
        """One registration of the event as its list shows it, or None."""

    def promoted_by(self, event_id: str, registration_id: int) -> list[RegistrationLine]:
        """Who moved up when this registration was cancelled, in arrival order, as the list shows them now."""

    def audit_lines(
        self, event_id: str, *, registration_id: int | None = None, page: int = 1
    ) -> tuple[list[AuditLine], int]:
        """The event's changes (or one registration's), newest first, a page; and how many in all."""

    def triage_lines(self, outcomes: Sequence[str]) -> list[TriageLine]:
        """Mails that need a person (these outcomes, or replies held back by a limit), oldest first."""

    def failed_reply_lines(self) -> list[FailedReplyLine]:
        """Replies the SMTP server refused for good, oldest first."""

    def mail_trail(self, ledger_id: int) -> MailTrail | None:
        """A mail's ledger entry with each rule that hit, or None."""

    def mailing_progress(self, event_id: str, mailing: ReplyStatus) -> MailingProgress:
        """How far a mailing (access, reminder) of the event is: served, its mails sent, waiting, failed."""


class UnitOfWork(Registrations, Ledger, Outbox, State, Reports, Privacy, Protocol):
    """One transaction: committed when its block ends, rolled back on any exception."""

    def savepoint(self) -> AbstractContextManager[None]:
        """A nested unit: on an exception only the work inside it is undone, the transaction goes on."""

    def flush(self) -> None:
        """Write what a buffered unit holds back now."""

    def prefetch(self, event_ids: Sequence[str], addresses: Sequence[str], replies_since: datetime) -> None:
        """Read ahead for a batch of mails: who holds no registration, how many replies each address got."""

    def person(self, email_normalized: str) -> str:
        """Who an address is for duplicates: the address, or without its +tag (`[bot] fold_subaddress`)."""


class ReadingUnit(UnitOfWork, ConsoleReads, Protocol):
    """A unit of work that only reads, with the console's paged reads besides the repositories'."""


class Store(Protocol):
    """The database as the service sees it: units of work, and what the sender and the leader need."""

    def transaction(self, *, buffered: bool = False) -> AbstractContextManager[UnitOfWork]:
        """One unit of work; `buffered`: inserts held back and written together (a batch of mails)."""

    def mark_sent(self, outbox_id: int, now: datetime) -> None:
        """The server accepted the reply: never send it again (a transaction of its own)."""

    def leader(self) -> AbstractContextManager[bool]:
        """Try to become the one process that runs passes; yields whether it succeeded (never waits)."""

    def reading(self) -> AbstractContextManager[ReadingUnit]:
        """A unit of work that only reads (the console's pages); nothing it does is committed."""

    def compact(self) -> None:
        """Physically drop erased values (best effort: they are erased logically already)."""

    def dispose(self) -> None:
        """Close what the store holds open (pooled connections)."""

    def has_schema(self) -> bool:
        """Whether any command has created the schema yet (a store that can't be reached raises)."""
