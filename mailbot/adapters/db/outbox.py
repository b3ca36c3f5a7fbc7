"""The outbox repository: replies queued with their decision, claimed, sent, failed, bounced."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, case, func, select, text, update
from sqlalchemy.engine import Connection

from mailbot.adapters.db.schema import OUTBOX, REGISTRATIONS, OutboxRow, RegistrationRow, UTCDateTime
from mailbot.adapters.db.unit_of_work import TxBase
from mailbot.core.model import ReplyStatus
from mailbot.core.records import ClaimedReply, Registration

_MAX_REFERENCES = 50  # a References header longer than this is cut (RFC 5322 asks clients to keep it short)

# Statements of the hot path, built once (their compiled form is cached): one UPDATE per call, no ORM work.
# The outbox row is found by its id alone; "only once" is in the SET (a reply sent already keeps its time and
# count). A `sent_at IS NULL` in the WHERE let PostgreSQL, with no statistics yet in a rush, pick an index on
# sent_at and read the whole backlog for every reply (tests/integration/test_query_plans.py).
MARK_SENT = (
    update(OUTBOX)
    .where(OUTBOX.c.id == bindparam("b_id"))
    .values(
        sent_at=func.coalesce(OUTBOX.c.sent_at, bindparam("b_now", type_=UTCDateTime())),
        attempts=case((OUTBOX.c.sent_at.is_(None), OUTBOX.c.attempts + 1), else_=OUTBOX.c.attempts),
    )
)
MARK_REPLIED = (
    update(REGISTRATIONS)
    .where(
        REGISTRATIONS.c.id
        == select(OUTBOX.c.registration_id).where(OUTBOX.c.id == bindparam("b_id")).scalar_subquery(),
        REGISTRATIONS.c.replied_at.is_(None),
    )
    .values(replied_at=bindparam("b_now", type_=UTCDateTime()))
)


# PostgreSQL, one accepted reply: both updates in one statement, sent on its own (autocommit), so recording a
# reply is one round trip instead of four (BEGIN, two UPDATEs, COMMIT). The main UPDATE reads the outbox row
# from the statement's snapshot, as the second of two statements would: registration_id doesn't change.
MARK_SENT_PG = text(
    "WITH sent AS (UPDATE outbox SET sent_at = coalesce(sent_at, :b_now),"
    " attempts = CASE WHEN sent_at IS NULL THEN attempts + 1 ELSE attempts END WHERE id = :b_id)"
    " UPDATE registrations SET replied_at = :b_now"
    " WHERE id = (SELECT registration_id FROM outbox WHERE id = :b_id) AND replied_at IS NULL"
).bindparams(bindparam("b_now", type_=UTCDateTime()), bindparam("b_id"))


def mark_sent_on(connection: Connection, replies: Sequence[tuple[int, datetime]]) -> None:
    """Accepted replies: never sent again; the first reply time of their registrations noted."""
    params = [{"b_id": outbox_id, "b_now": when} for outbox_id, when in replies]
    connection.execute(MARK_SENT, params)
    connection.execute(MARK_REPLIED, params)


class OutboxRepository(TxBase):
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
        """Queue a reply in the same transaction as the decision it reports."""
        if recipient_normalized in self._replies:
            self._replies[recipient_normalized][1 if kind == ReplyStatus.LIMIT else 0] += 1
        return self._insert(
            OutboxRow,
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
            attempts=0,
            next_attempt_at=now,
        )

    def _reply_counts(self, addresses: Sequence[str], since: datetime) -> dict[str, list[int]]:
        """For each address: [replies but limit notices, limit notices] queued since then (one query)."""
        is_limit = case((OutboxRow.kind == ReplyStatus.LIMIT.value, 1), else_=0)
        rows = self.session.execute(
            select(OutboxRow.recipient_normalized, func.count(), func.coalesce(func.sum(is_limit), 0))
            .where(OutboxRow.recipient_normalized.in_(list(addresses)), OutboxRow.created_at >= since)
            .group_by(OutboxRow.recipient_normalized)
        )
        counts = {address: [0, 0] for address in addresses}
        for address, total, notices in rows:
            counts[address] = [int(total) - int(notices or 0), int(notices or 0)]
        return counts

    def replies_to(self, recipient_normalized: str, since: datetime) -> tuple[int, int]:
        """Replies to an address since then: (all but limit notices, limit notices); read ahead or asked."""
        cached = self._replies.get(recipient_normalized)
        replies, notices = cached or self._reply_counts([recipient_normalized], since)[recipient_normalized]
        return replies, notices

    def events_of_replies(self, message_ids: Sequence[str]) -> list[str]:
        """The events our replies with these Message-IDs were about."""
        rows = self.session.scalars(
            select(OutboxRow.event_id).where(OutboxRow.message_id.in_(list(message_ids))).distinct()
        )
        return [e for e in rows if e is not None]

    def find_reply(
        self, message_ids: Sequence[str], recipients: Sequence[str], recent_since: datetime | None = None
    ) -> int | None:
        """Our reply a bounce is about: by its Message-ID, else a recent one to a failed recipient."""
        if message_ids:
            found = self.session.scalar(
                select(OutboxRow.id).where(OutboxRow.message_id.in_(list(message_ids))).order_by(OutboxRow.id)
            )
            if found is not None:
                return int(found)
        if recipients and recent_since is not None:
            # No Message-ID of ours in the report: only a reply sent lately to a failed recipient qualifies.
            found = self.session.scalar(
                select(OutboxRow.id)
                .where(OutboxRow.recipient_normalized.in_([r.lower() for r in recipients]))
                .where(OutboxRow.sent_at >= recent_since)
                .order_by(OutboxRow.id.desc())
            )
            if found is not None:
                return int(found)
        return None

    def mark_bounced(self, outbox_id: int, now: datetime) -> str:
        """Record a bounce of our reply and flag its registration undeliverable; returns the recipient."""
        row = self.session.get(OutboxRow, outbox_id)
        assert row is not None
        row.bounced_at = row.bounced_at or now
        if row.registration_id is not None:
            self.session.execute(
                update(RegistrationRow)
                .where(RegistrationRow.id == row.registration_id, RegistrationRow.undeliverable_at.is_(None))
                .values(undeliverable_at=now)
            )
        return row.recipient

    def answers_our_mail_to(self, references: Sequence[str], registration: Registration) -> bool:
        """Whether one of these Message-IDs is a mail we sent to the registration's address (or mailbox).

        Our Message-IDs carry 128 random bits and only the recipient saw them, so a mail naming one in
        In-Reply-To/References comes from someone who received that mail: proof of owning the address.
        With `[bot] fold_subaddress`, a mail to another +tag of the same mailbox counts too. Erased replies
        no longer name their recipient and prove nothing.
        """
        if not references or not registration.email_normalized:
            return False
        wanted = self.person(registration.email_normalized)
        recipients = self.session.execute(
            select(OutboxRow.recipient_normalized, OutboxRow.recipient).where(
                OutboxRow.message_id.in_(list(references)[-_MAX_REFERENCES:])
            )
        )
        # The normalised recipient was stored with the reply (migration 0002 filled older rows from the
        # address); an erased reply has none, and "(erased)" is nobody's address.
        return any(
            self.person(normalized or recipient.lower()) == wanted for normalized, recipient in recipients
        )

    def confirmation_requested(self, registration_id: int, since: datetime) -> bool:
        """Whether the registration's address was asked to confirm a cancellation since then."""
        found = self.session.scalar(
            select(OutboxRow.id)
            .where(
                OutboxRow.registration_id == registration_id,
                OutboxRow.kind == ReplyStatus.CONFIRM_CANCEL.value,
                OutboxRow.created_at >= since,
            )
            .limit(1)
        )
        return found is not None

    def sent_since(self, since: datetime) -> int:
        """How many replies the SMTP server accepted since then (for the hourly limit)."""
        return int(self.session.scalar(select(func.count()).where(OutboxRow.sent_at >= since)) or 0)

    def recipients_sent_since(self, since: datetime) -> list[str]:
        """The normalised recipient of each reply the SMTP server accepted since then (the storm check)."""
        found = self.session.execute(
            select(OutboxRow.recipient_normalized, OutboxRow.recipient).where(OutboxRow.sent_at >= since)
        )
        return [normalized or recipient.lower() for normalized, recipient in found]

    def recipients_of(self, outbox_ids: Sequence[int]) -> dict[int, str]:
        """The normalised recipient of each of these replies, by id."""
        found = self.session.execute(
            select(OutboxRow.id, OutboxRow.recipient_normalized, OutboxRow.recipient).where(
                OutboxRow.id.in_(list(outbox_ids))
            )
        )
        return {id_: normalized or recipient.lower() for id_, normalized, recipient in found}

    def pending_replies(self) -> int:
        """Replies waiting to be sent."""
        return int(
            self.session.scalar(
                select(func.count()).where(OutboxRow.sent_at.is_(None), OutboxRow.failed_at.is_(None))
            )
            or 0
        )

    def claim_due_outbox(self, now: datetime, limit: int, lease_until: datetime) -> list[ClaimedReply]:
        """Claim unsent, not failed replies that are due, oldest first, for one sender.

        Claiming moves their next attempt to `lease_until`, so a second process flushing at the same time
        skips them (PostgreSQL: SKIP LOCKED; SQLite: BEGIN IMMEDIATE serialises the claim). If this
        process dies while sending, the lease runs out and the reply goes out on a later pass. The
        replies come as plain tuples of what sending needs, and one UPDATE claims them all.
        """
        found = self.session.execute(
            select(
                OutboxRow.id, OutboxRow.envelope_from, OutboxRow.recipient, OutboxRow.data, OutboxRow.attempts
            )
            .where(
                OutboxRow.sent_at.is_(None),
                OutboxRow.failed_at.is_(None),
                OutboxRow.next_attempt_at <= now,
            )
            .order_by(OutboxRow.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        replies = [ClaimedReply(*row) for row in found]
        if replies:
            self.session.execute(
                update(OutboxRow)
                .where(OutboxRow.id.in_([reply.id for reply in replies]))
                .values(next_attempt_at=lease_until)
                .execution_options(synchronize_session=False)
            )
        return replies

    def mark_sent(self, replies: Sequence[tuple[int, datetime]]) -> None:
        """Record replies the server accepted (outbox id, when), e.g. from the sent journal."""
        if replies:
            self.session.flush()
            self.flush()
            mark_sent_on(self.session.connection(), replies)

    def release(self, outbox_ids: Sequence[int], now: datetime) -> None:
        """Give claimed but unsent replies back: due again right now."""
        if outbox_ids:
            self.session.execute(
                update(OutboxRow)
                .where(OutboxRow.id.in_(list(outbox_ids)), OutboxRow.sent_at.is_(None))
                .values(next_attempt_at=now)
            )

    def release_claim(self, outbox_ids: Sequence[int], lease_until: datetime, now: datetime) -> int:
        """Give back the replies still held by one claim (lease `lease_until`): due again now; how many.

        A reply changed since that claim (sent, failed, deferred after a 4xx, or claimed anew by another
        sender) has another `next_attempt_at` and is left alone.
        """
        if not outbox_ids:
            return 0
        held = select(OutboxRow.id).where(
            OutboxRow.id.in_(list(outbox_ids)),
            OutboxRow.sent_at.is_(None),
            OutboxRow.failed_at.is_(None),
            OutboxRow.next_attempt_at == lease_until,
        )
        ids = list(self.session.scalars(held))
        self.release(ids, now)
        return len(ids)

    def release_kind(self, event_id: str, kind: str, now: datetime) -> None:
        """Make every unsent, not failed mail of one kind for an event due right now."""
        self.session.execute(
            update(OutboxRow)
            .where(
                OutboxRow.event_id == event_id,
                OutboxRow.kind == kind,
                OutboxRow.sent_at.is_(None),
                OutboxRow.failed_at.is_(None),
            )
            .values(next_attempt_at=now)
        )

    def mark_failed(
        self, outbox_id: int, now: datetime, error: str, *, permanent: bool, retry_at: datetime
    ) -> None:
        """A refused reply: permanently failed (5xx) or retried later (4xx, connection trouble)."""
        row = self.session.get(OutboxRow, outbox_id)
        if row is None or row.sent_at is not None:
            return
        row.attempts += 1
        row.last_error = error[:1000]
        if permanent:
            row.failed_at = now
        else:
            row.next_attempt_at = retry_at
