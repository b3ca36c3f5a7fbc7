"""The SQL side of proving who owns an address (invariant 8): our Message-IDs it answers, requests pending."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select

from mailbot.adapters.addresses import normalize_address
from mailbot.adapters.db.schema import OutboxRow, RegistrationRow
from mailbot.adapters.db.tx import Tx
from mailbot.core.model import ReplyStatus

_MAX_REFERENCES = 50  # a References header longer than this is cut (RFC 5322 asks clients to keep it short)


def answers_our_mail_to(tx: Tx, references: Sequence[str], registration: RegistrationRow) -> bool:
    """Whether one of these Message-IDs is a mail we sent to the registration's address (or mailbox).

    Our Message-IDs carry 128 random bits and only the recipient saw them, so a mail naming one in
    In-Reply-To/References comes from someone who received that mail: proof of owning the address. With
    `[bot] fold_subaddress`, a mail to another +tag of the same mailbox counts too. Erased replies no longer
    name their recipient and prove nothing.
    """
    if not references or not registration.email_normalized:
        return False
    wanted = tx.person(registration.email_normalized)
    recipients = tx.session.scalars(
        select(OutboxRow.recipient).where(OutboxRow.message_id.in_(list(references)[-_MAX_REFERENCES:]))
    )
    for recipient in recipients:
        normalized = normalize_address(recipient)
        if normalized is not None and tx.person(normalized) == wanted:
            return True
    return False


def confirmation_requested(tx: Tx, registration_id: int, since: datetime) -> bool:
    """Whether the registration's address was asked to confirm a cancellation since then."""
    found = tx.session.scalar(
        select(OutboxRow.id)
        .where(
            OutboxRow.registration_id == registration_id,
            OutboxRow.kind == ReplyStatus.CONFIRM_CANCEL.value,
            OutboxRow.created_at >= since,
        )
        .limit(1)
    )
    return found is not None
