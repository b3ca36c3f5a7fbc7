"""Rows into the core values the store port hands out (no ORM row leaves adapters/db)."""

from __future__ import annotations

from mailbot.adapters.db.schema import AuditRow, LedgerRow, OutboxRow, RegistrationRow
from mailbot.core.model import Status
from mailbot.core.records import AuditEntry, FailedReply, LedgerEntry, Registration, Reply


def registration_of(row: RegistrationRow) -> Registration:
    """A registration row as a value."""
    return Registration(
        id=row.id,
        event_id=row.event_id,
        position=row.position,
        status=Status(row.status),
        name=row.name,
        email=row.email,
        email_normalized=row.email_normalized,
        channel=row.channel,
        received_at=row.received_at,
        ledger_id=row.ledger_id,
        message_id=row.message_id,
        created_at=row.created_at,
        replied_at=row.replied_at,
        cancelled_at=row.cancelled_at,
        phone=row.phone,
        access_sent_at=row.access_sent_at,
        reminder_sent_at=row.reminder_sent_at,
        promoted_at=row.promoted_at,
        undeliverable_at=row.undeliverable_at,
    )


def ledger_entry_of(row: LedgerRow) -> LedgerEntry:
    """A ledger row as a value."""
    return LedgerEntry(
        id=row.id,
        folder=row.folder,
        uidvalidity=row.uidvalidity,
        uid=row.uid,
        message_id=row.message_id,
        internaldate=row.internaldate,
        size=row.size,
        outcome=row.outcome,
        intent=row.intent,
        reason=row.reason,
        rule_hits=row.rule_hits,
        sender=row.sender,
        subject=row.subject,
        processed_at=row.processed_at,
        flagged=row.flagged,
        content_hash=row.content_hash,
        decoded_hash=row.decoded_hash,
    )


def audit_entry_of(row: AuditRow) -> AuditEntry:
    """An audit row as a value."""
    return AuditEntry(
        id=row.id,
        at=row.at,
        event_id=row.event_id,
        registration_id=row.registration_id,
        actor=row.actor,
        action=row.action,
        old_status=row.old_status,
        new_status=row.new_status,
        detail=row.detail,
    )


def failed_reply_of(row: OutboxRow) -> FailedReply:
    """A refused reply as a value."""
    return FailedReply(
        id=row.id,
        event_id=row.event_id,
        kind=row.kind,
        recipient=row.recipient,
        attempts=row.attempts,
        failed_at=row.failed_at,
        last_error=row.last_error,
    )


def reply_of(row: OutboxRow) -> Reply:
    """An outbox row as a value."""
    return Reply(
        id=row.id,
        event_id=row.event_id,
        registration_id=row.registration_id,
        ledger_id=row.ledger_id,
        kind=row.kind,
        envelope_from=row.envelope_from,
        recipient=row.recipient,
        recipient_normalized=row.recipient_normalized,
        message_id=row.message_id,
        data=row.data,
        created_at=row.created_at,
        next_attempt_at=row.next_attempt_at,
        attempts=row.attempts,
        sent_at=row.sent_at,
        failed_at=row.failed_at,
        last_error=row.last_error,
        bounced_at=row.bounced_at,
    )
