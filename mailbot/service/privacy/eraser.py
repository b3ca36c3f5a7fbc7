"""Erasing single rows (or counting what would change, in a dry run), in one transaction."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime

from mailbot.core.privacy import ERASED, WITHDRAWN, Erased, scrub, scrub_hits, scrub_reason
from mailbot.core.records import AuditAction, AuditEntry, LedgerEntry, Registration, Reply
from mailbot.ports.addresses import Addresses
from mailbot.ports.store import UnitOfWork

Stored = Registration | LedgerEntry | Reply | AuditEntry  # what an erasure changes


class Eraser:
    """Applies (or, in a dry run, only counts) the erasure of single rows, in one transaction.

    Every change is computed first and applied only where a value differs, so erasing twice changes nothing
    the second time and counts nothing.
    """

    def __init__(
        self,
        tx: UnitOfWork,
        now: datetime,
        *,
        dry_run: bool,
        actor: str,
        detail: str,
        keep_unsent_since: datetime | None,
    ) -> None:
        self.tx, self.now, self.dry_run = tx, now, dry_run
        self.actor, self.detail = actor, detail
        self.keep_unsent_since = keep_unsent_since  # unsent replies created since then stay; None: none stay
        self.registrations = self.ledger = self.replies = self.withdrawn = self.audits = 0

    def result(self) -> Erased:
        """The counts so far."""
        return Erased(self.registrations, self.ledger, self.replies, self.withdrawn, self.audits)

    def _apply(self, row: Stored, changes: Mapping[str, object]) -> bool:
        """Store the changes that differ from the record (none in a dry run); whether there were any."""
        diff = {name: value for name, value in changes.items() if getattr(row, name) != value}
        if diff and not self.dry_run:
            if isinstance(row, Registration):
                self.tx.change_registration(row.id, diff)
            elif isinstance(row, LedgerEntry):
                self.tx.change_ledger(row.id, diff)
            elif isinstance(row, Reply):
                self.tx.change_reply(row.id, diff)
            else:
                self.tx.change_audit(row.id, diff)
        return bool(diff)

    def registration(self, row: Registration) -> None:
        """Name, address, phone and Message-ID go; event, status, position, channel and times stay.

        The erasure is itself audited, so `history` shows when and why the person's data went.
        """
        changes = {
            "name": ERASED,
            "email": None,
            "email_normalized": None,
            "phone": None,
            "message_id": None,
        }
        if self._apply(row, changes):
            self.registrations += 1
            if not self.dry_run:
                self.tx.audit(
                    row.event_id,
                    row.id,
                    actor=self.actor,
                    action=AuditAction.ERASED.value,
                    old=row.status.value,
                    new=row.status.value,
                    now=self.now,
                    detail=self.detail,
                )

    def ledger_row(self, row: LedgerEntry) -> None:
        """Sender, subject and Message-ID go, and addresses and quotes in the reasons; the identity stays.

        (folder, UIDVALIDITY, UID) keep the mail from being processed again; outcome, intent, times, size,
        the rules that hit and the content hash (a one-way fingerprint) stay.
        """
        changes = {
            "sender": None,
            "message_id": None,
            "subject": ERASED,
            "reason": scrub_reason(row.reason or ""),
            "rule_hits": scrub_hits(row.rule_hits),
        }
        if self._apply(row, changes):
            self.ledger += 1

    def reply(self, row: Reply) -> None:
        """The recipient and the whole rendered mail go; kind, event, Message-ID (ours) and times stay.

        A reply not sent yet is withdrawn (marked failed, never sent) unless it was queued since
        `keep_unsent_since`: then it stays as it is, goes out, and a later purge erases it.
        """
        unsent = row.sent_at is None and row.failed_at is None
        if unsent and self.keep_unsent_since is not None and row.created_at >= self.keep_unsent_since:
            return
        changes: dict[str, object] = {
            "recipient": ERASED,
            "recipient_normalized": "",
            "data": b"",
            "last_error": scrub(row.last_error) if row.last_error else row.last_error,
        }
        if unsent:
            changes |= {"failed_at": self.now, "last_error": WITHDRAWN}
        if self._apply(row, changes):
            self.replies += 1
            self.withdrawn += int(unsent)

    def audit(self, row: AuditEntry) -> None:
        """Addresses (masked ones too) leave the actor and the detail; who did what, when, stays."""
        if self._apply(row, {"actor": scrub(row.actor), "detail": scrub(row.detail or "")}):
            self.audits += 1

    def mention(
        self, row: LedgerEntry | AuditEntry | Reply, fields: Sequence[str], patterns: Sequence[str]
    ) -> None:
        """Only what the patterns match leaves these text fields of a row that is someone else's."""
        pattern = re.compile("|".join(patterns), re.IGNORECASE)
        changes = {f: pattern.sub(ERASED, getattr(row, f)) for f in fields if getattr(row, f)}
        if self._apply(row, changes):
            if isinstance(row, LedgerEntry):
                self.ledger += 1
            elif isinstance(row, AuditEntry):
                self.audits += 1
            else:
                self.replies += 1


def senders_of(tx: UnitOfWork, addresses: Addresses, normalized: Collection[str]) -> list[str]:
    """The ledger's senders (as stored) that normalise to one of these addresses."""
    wanted = set(normalized)
    if not wanted:
        return []
    normalize = addresses.normalize
    return [s for s in tx.ledger_senders() if normalize(s) in wanted]
