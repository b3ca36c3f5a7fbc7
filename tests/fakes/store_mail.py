"""The fake store's ledger and outbox."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from mailbot.core.model import ReplyStatus
from mailbot.core.records import ClaimedReply, LedgerEntry, Registration, Reply
from mailbot.ports.store import DuplicateMessageError
from tests.fakes.store_data import Base

_MAX_REFERENCES = 50


class Mail(Base):
    """Processed messages and the replies queued about them."""

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
        """Record a processed message; DuplicateMessageError if it is recorded already."""
        if any(
            (e.folder, e.uidvalidity, e.uid) == (folder, uidvalidity, uid) for e in self.d.ledger.values()
        ):
            raise DuplicateMessageError(f"{folder}/{uidvalidity}/{uid}")
        entry = LedgerEntry(
            id=self._id(),
            folder=folder,
            uidvalidity=uidvalidity,
            uid=uid,
            message_id=message_id,
            internaldate=internaldate,
            size=size,
            outcome=outcome,
            intent=intent,
            reason=reason,
            rule_hits=json.dumps([list(h) for h in rule_hits], ensure_ascii=False),
            sender=sender,
            subject=subject,
            processed_at=now,
            flagged=False,
            content_hash=content_hash,
            decoded_hash=decoded_hash,
        )
        self.d.ledger[entry.id] = entry
        return entry.id

    def _oldest_first(self) -> list[LedgerEntry]:
        return sorted(self.d.ledger.values(), key=lambda e: e.id)

    def first_by_hash(
        self, content_hashes: Sequence[str], decoded_hashes: Sequence[str] = ()
    ) -> dict[str, tuple[str, int, int]]:
        """Where the first mail with each hash was."""
        found: dict[str, tuple[str, int, int]] = {}
        for e in self._oldest_first():
            for h in (e.content_hash, e.decoded_hash):
                if h is not None and (h in content_hashes or h in decoded_hashes):
                    found.setdefault(h, (e.folder, e.uidvalidity, e.uid))
        return found

    def first_by_message_id(self, message_ids: Sequence[str]) -> dict[str, tuple[str, int, int, str, str]]:
        """Entries without a decoded hash, by Message-ID: the first one's place, sender and subject."""
        found: dict[str, tuple[str, int, int, str, str]] = {}
        for e in self._oldest_first():
            if e.message_id is not None and e.message_id in message_ids and e.decoded_hash is None:
                found.setdefault(
                    e.message_id, (e.folder, e.uidvalidity, e.uid, e.sender or "", e.subject or "")
                )
        return found

    def set_ledger_outcome(self, ledger_id: int, outcome: str, reason: str) -> None:
        """Update a verdict."""
        self.d.ledger[ledger_id] = replace(self.d.ledger[ledger_id], outcome=outcome, reason=reason)

    def verdicts(
        self,
        folder: str,
        uidvalidity: int,
        *,
        uids: Sequence[int] | None = None,
        outcomes: Sequence[str] | None = None,
    ) -> list[LedgerEntry]:
        """The folder's entries, in arrival order."""
        return sorted(
            (
                e
                for e in self.d.ledger.values()
                if (e.folder, e.uidvalidity) == (folder, uidvalidity)
                and (uids is None or e.uid in uids)
                and (outcomes is None or e.outcome in outcomes)
            ),
            key=lambda e: (e.internaldate, e.uid),
        )

    def reopen(self, folder: str, uidvalidity: int, uids: Sequence[int], outcomes: Sequence[str]) -> None:
        """Drop these verdicts."""
        for e in self.verdicts(folder, uidvalidity, uids=uids, outcomes=outcomes):
            del self.d.ledger[e.id]

    def processed_uids(self, folder: str, uidvalidity: int) -> set[int]:
        """UIDs already in the ledger."""
        return {e.uid for e in self.verdicts(folder, uidvalidity)}

    def unflagged_uids(self, folder: str, uidvalidity: int, outcomes: Sequence[str]) -> list[int]:
        """Committed but not yet marked/moved."""
        return sorted(e.uid for e in self.verdicts(folder, uidvalidity, outcomes=outcomes) if not e.flagged)

    def mark_flagged(self, folder: str, uidvalidity: int, uids: Sequence[int]) -> None:
        """Remember that these were marked/moved."""
        for e in self.verdicts(folder, uidvalidity, uids=uids):
            self.d.ledger[e.id] = replace(e, flagged=True)

    def ledger_entries(self, key: str) -> list[LedgerEntry]:
        """Entries by UID or Message-ID."""
        if key.isdigit():
            return [e for e in self._oldest_first() if e.uid == int(key)]
        mid = key if key.startswith("<") else f"<{key}>"
        return [e for e in self._oldest_first() if e.message_id == mid]

    # --- outbox ---
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
        """Queue a reply."""
        reply = Reply(
            id=self._id(),
            event_id=event_id,
            registration_id=registration_id,
            ledger_id=ledger_id,
            kind=kind,
            envelope_from=envelope_from,
            recipient=recipient,
            recipient_normalized=recipient_normalized,
            message_id=message_id,
            data=data,
            created_at=now,
            next_attempt_at=now,
        )
        self.d.outbox[reply.id] = reply
        return reply.id

    def replies_to(self, recipient_normalized: str, since: datetime) -> tuple[int, int]:
        """(replies but limit notices, limit notices) to an address since then."""
        kinds = [
            r.kind
            for r in self._replies()
            if r.recipient_normalized == recipient_normalized and r.created_at >= since
        ]
        notices = kinds.count(ReplyStatus.LIMIT.value)
        return len(kinds) - notices, notices

    def events_of_replies(self, message_ids: Sequence[str]) -> list[str]:
        """The events our replies with these Message-IDs were about."""
        return sorted({r.event_id for r in self._replies() if r.message_id in message_ids and r.event_id})

    def find_reply(
        self, message_ids: Sequence[str], recipients: Sequence[str], recent_since: datetime | None = None
    ) -> int | None:
        """Our reply a bounce is about."""
        by_id = [r.id for r in self._replies() if r.message_id in message_ids]
        if by_id:
            return by_id[0]
        if recipients and recent_since is not None:
            wanted = {a.lower() for a in recipients}
            recent = [
                r.id
                for r in self._replies()
                if r.recipient_normalized in wanted and r.sent_at is not None and r.sent_at >= recent_since
            ]
            if recent:
                return recent[-1]
        return None

    def mark_bounced(self, outbox_id: int, now: datetime) -> str:
        """Record a bounce; the registration is undeliverable."""
        reply = self.d.outbox[outbox_id]
        self.d.outbox[outbox_id] = replace(reply, bounced_at=reply.bounced_at or now)
        reg = self.d.registrations.get(reply.registration_id or 0)
        if reg is not None and reg.undeliverable_at is None:
            self.d.registrations[reg.id] = replace(reg, undeliverable_at=now)
        return reply.recipient

    def answers_our_mail_to(self, references: Sequence[str], registration: Registration) -> bool:
        """Whether a Message-ID is one of our mails to the registration's address (the +tag folded)."""
        if not references or not registration.email_normalized:
            return False
        wanted = self.person(registration.email_normalized)
        cited = set(list(references)[-_MAX_REFERENCES:])
        return any(
            r.message_id in cited and r.recipient_normalized and self.person(r.recipient_normalized) == wanted
            for r in self._replies()
        )

    def confirmation_requested(self, registration_id: int, since: datetime) -> bool:
        """Whether the address was asked to confirm a cancellation since then."""
        return any(
            r.registration_id == registration_id
            and r.kind == ReplyStatus.CONFIRM_CANCEL.value
            and r.created_at >= since
            for r in self._replies()
        )

    def sent_since(self, since: datetime) -> int:
        """Replies accepted since then."""
        return sum(r.sent_at is not None and r.sent_at >= since for r in self._replies())

    def recipients_sent_since(self, since: datetime) -> list[str]:
        """The recipient of each reply accepted since then."""
        return [
            r.recipient_normalized or r.recipient.lower()
            for r in self._replies()
            if r.sent_at is not None and r.sent_at >= since
        ]

    def recipients_of(self, outbox_ids: Sequence[int]) -> dict[int, str]:
        """The recipient of each of these replies."""
        return {
            r.id: r.recipient_normalized or r.recipient.lower() for r in self._replies() if r.id in outbox_ids
        }

    def pending_replies(self) -> int:
        """Replies waiting to be sent."""
        return sum(r.sent_at is None and r.failed_at is None for r in self._replies())

    def claim_due_outbox(self, now: datetime, limit: int, lease_until: datetime) -> list[ClaimedReply]:
        """Claim due replies, oldest first, until `lease_until`."""
        due = [
            r
            for r in self._replies()
            if r.sent_at is None and r.failed_at is None and r.next_attempt_at <= now
        ][:limit]
        for r in due:
            self.d.outbox[r.id] = replace(r, next_attempt_at=lease_until)
        return [ClaimedReply(r.id, r.envelope_from, r.recipient, r.data, r.attempts) for r in due]

    def mark_sent(self, replies: Sequence[tuple[int, datetime]]) -> None:
        """Record accepted replies; their registrations' first reply time."""
        for outbox_id, when in replies:
            reply = self.d.outbox.get(outbox_id)
            if reply is None or reply.sent_at is not None:
                continue
            self.d.outbox[outbox_id] = replace(reply, sent_at=when, attempts=reply.attempts + 1)
            reg = self.d.registrations.get(reply.registration_id or 0)
            if reg is not None and reg.replied_at is None:
                self.d.registrations[reg.id] = replace(reg, replied_at=when)

    def release(self, outbox_ids: Sequence[int], now: datetime) -> None:
        """Claimed but unsent replies are due again now."""
        for r in self._replies():
            if r.id in outbox_ids and r.sent_at is None:
                self.d.outbox[r.id] = replace(r, next_attempt_at=now)

    def release_claim(self, outbox_ids: Sequence[int], lease_until: datetime, now: datetime) -> int:
        """Give back the replies still held by one claim."""
        held = [
            r.id
            for r in self._replies()
            if r.id in outbox_ids
            and r.sent_at is None
            and r.failed_at is None
            and r.next_attempt_at == lease_until
        ]
        self.release(held, now)
        return len(held)

    def release_kind(self, event_id: str, kind: str, now: datetime) -> None:
        """Every unsent mail of one kind for an event is due now."""
        for r in self._replies():
            if r.event_id == event_id and r.kind == kind and r.sent_at is None and r.failed_at is None:
                self.d.outbox[r.id] = replace(r, next_attempt_at=now)

    def mark_failed(
        self, outbox_id: int, now: datetime, error: str, *, permanent: bool, retry_at: datetime
    ) -> None:
        """A refused reply: failed for good, or retried later."""
        r = self.d.outbox.get(outbox_id)
        if r is None or r.sent_at is not None:
            return
        changed = replace(r, attempts=r.attempts + 1, last_error=error[:1000])
        self.d.outbox[outbox_id] = (
            replace(changed, failed_at=now) if permanent else replace(changed, next_attempt_at=retry_at)
        )
