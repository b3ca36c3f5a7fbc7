"""Right of access (Art. 15 DSGVO): everything the database stores about one address."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.parser import BytesParser

from mailbot.core.privacy import ADDRESS, OTHER_PERSON
from mailbot.core.records import Registration
from mailbot.errors import MailbotError
from mailbot.ports.addresses import Addresses
from mailbot.ports.store import Store
from mailbot.redact import mask_address
from mailbot.service.privacy.eraser import senders_of


@dataclass(frozen=True)
class StoredRegistration:
    """A registration as stored."""

    id: int
    event_id: str
    status: str
    position: int
    channel: str
    name: str
    email: str | None
    phone: str | None
    received_at: datetime
    replied_at: datetime | None
    cancelled_at: datetime | None
    promoted_at: datetime | None
    access_sent_at: datetime | None
    reminder_sent_at: datetime | None
    undeliverable_at: datetime | None


@dataclass(frozen=True)
class StoredReply:
    """A mail the desk sent (or queued) to the person."""

    event_id: str | None
    kind: str
    subject: str
    created_at: datetime
    sent_at: datetime | None
    failed_at: datetime | None
    bounced_at: datetime | None


@dataclass(frozen=True)
class StoredMail:
    """A mail from the person, as the ledger recorded it."""

    received_at: datetime
    processed_at: datetime
    outcome: str
    intent: str | None
    reason: str
    rules: tuple[str, ...]
    subject: str | None
    message_id: str | None


@dataclass(frozen=True)
class StoredChange:
    """An audit entry of one of the person's registrations."""

    at: datetime
    event_id: str
    registration_id: int | None
    action: str
    old_status: str | None
    new_status: str | None
    actor: str
    detail: str


@dataclass(frozen=True)
class PersonData:
    """Everything the database stores about one address (right of access, Art. 15 DSGVO)."""

    address: str
    registrations: tuple[StoredRegistration, ...]
    replies: tuple[StoredReply, ...]
    mails: tuple[StoredMail, ...]
    history: tuple[StoredChange, ...]


def person_data(db: Store, address: str, *, addresses: Addresses) -> PersonData:
    """What is stored about one person, compared by normalised address; other people's addresses hidden."""
    normalize = addresses.normalize
    normalized = normalize(address)
    if normalized is None:
        raise MailbotError(f"not a valid email address: {mask_address(address)}")
    own = {normalized, mask_address(normalized)}

    def hide_others(text: str) -> str:
        def one(match: re.Match[str]) -> str:
            found = match.group(0)
            return found if found.lower() in own or normalize(found) == normalized else OTHER_PERSON

        return ADDRESS.sub(one, text)

    with db.transaction() as tx:
        registrations = tx.registrations_of_person(normalized)
        registration_ids = [r.id for r in registrations]
        replies = tx.replies_about(registration_ids=registration_ids, recipient_normalized=normalized)
        ledger_ids = {r.ledger_id for r in registrations if r.ledger_id is not None}
        ledger_ids |= tx.ledger_ids_from(senders_of(tx, addresses, [normalized]))
        mails = tx.ledger_by_ids(ledger_ids)
        history = tx.audit_entries(registration_ids=registration_ids)
        return PersonData(
            address=normalized,
            registrations=tuple(_stored_registration(r) for r in registrations),
            replies=tuple(
                StoredReply(
                    event_id=r.event_id,
                    kind=r.kind,
                    subject=_subject(r.data),
                    created_at=r.created_at,
                    sent_at=r.sent_at,
                    failed_at=r.failed_at,
                    bounced_at=r.bounced_at,
                )
                for r in replies
            ),
            mails=tuple(
                StoredMail(
                    received_at=m.internaldate,
                    processed_at=m.processed_at,
                    outcome=m.outcome,
                    intent=m.intent,
                    reason=hide_others(m.reason or ""),
                    rules=tuple(f"{rule}: {hide_others(why)}" for rule, why in _hits(m.rule_hits)),
                    subject=m.subject,
                    message_id=m.message_id,
                )
                for m in sorted(mails, key=lambda m: (m.internaldate, m.uid))
            ),
            history=tuple(
                StoredChange(
                    at=a.at,
                    event_id=a.event_id,
                    registration_id=a.registration_id,
                    action=a.action,
                    old_status=a.old_status,
                    new_status=a.new_status,
                    actor=hide_others(a.actor),
                    detail=hide_others(a.detail or ""),
                )
                for a in history
            ),
        )


def _stored_registration(r: Registration) -> StoredRegistration:
    return StoredRegistration(
        id=r.id,
        event_id=r.event_id,
        status=r.status,
        position=r.position,
        channel=r.channel,
        name=r.name,
        email=r.email,
        phone=r.phone,
        received_at=r.received_at,
        replied_at=r.replied_at,
        cancelled_at=r.cancelled_at,
        promoted_at=r.promoted_at,
        access_sent_at=r.access_sent_at,
        reminder_sent_at=r.reminder_sent_at,
        undeliverable_at=r.undeliverable_at,
    )


def _subject(data: bytes) -> str:
    """The Subject of a rendered mail ('' once erased)."""
    if not data:
        return ""
    return str(BytesParser(policy=policy.default).parsebytes(data, headersonly=True)["Subject"] or "")


def _hits(rule_hits: str) -> Iterable[tuple[str, str]]:
    try:
        return [(str(rule), str(why)) for rule, why in json.loads(rule_hits or "[]")]
    except (ValueError, TypeError):
        return []
