"""Shim during the move (issue 14): proving who owns an address is OutboxRepository's now."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from mailbot.adapters.db.tx import Tx
from mailbot.core.records import Registration


def answers_our_mail_to(tx: Tx, references: Sequence[str], registration: Registration) -> bool:
    """Whether one of these Message-IDs is a mail we sent to the registration's address (or mailbox)."""
    return tx.answers_our_mail_to(references, registration)


def confirmation_requested(tx: Tx, registration_id: int, since: datetime) -> bool:
    """Whether the registration's address was asked to confirm a cancellation since then."""
    return tx.confirmation_requested(registration_id, since)
