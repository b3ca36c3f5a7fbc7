"""The fake store's privacy repository: finding personal data and changing it field by field."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import fields, replace
from datetime import datetime
from typing import Any, TypeVar

from mailbot.core.records import AuditEntry, LedgerEntry, Registration, Reply
from tests.fakes.store_data import Base

_V = TypeVar("_V", Registration, LedgerEntry, Reply, AuditEntry)


def _changed(value: _V, changes: Mapping[str, object]) -> _V:
    names = {f.name for f in fields(value)} - {"id"}
    unknown = set(changes) - names
    if unknown:
        raise ValueError(f"no field {sorted(unknown)} to change")
    update: dict[str, Any] = dict(changes)
    return replace(value, **update)


class Privacy(Base):
    """What retention, forgetting and a person's export read and change."""

    def event_starts(self) -> dict[str, datetime]:
        """Every event with its start."""
        return {e.id: e.starts_at for e in self.d.events.values()}

    def _holds_data(self, r: Registration, mark: str) -> bool:
        return r.name != mark or any(
            v is not None for v in (r.email, r.email_normalized, r.phone, r.message_id)
        )

    def registrations_of_events(self, event_ids: Collection[str], erased_mark: str) -> list[Registration]:
        """Registrations of these events still holding personal data."""
        return sorted(
            (
                r
                for r in self.d.registrations.values()
                if r.event_id in event_ids and self._holds_data(r, erased_mark)
            ),
            key=lambda r: r.id,
        )

    def registrations_of_person(self, email_normalized: str) -> list[Registration]:
        """All registrations of one address, oldest first."""
        return sorted(
            (r for r in self.d.registrations.values() if r.email_normalized == email_normalized),
            key=lambda r: (r.received_at, r.id),
        )

    def event_ledger_ids(self, event_ids: Collection[str]) -> set[int]:
        """Ledger entries tied to these events."""
        ids = {r.ledger_id for r in self.d.registrations.values() if r.event_id in event_ids}
        ids |= {r.ledger_id for r in self.d.outbox.values() if r.event_id in event_ids}
        return {i for i in ids if i is not None}

    def replies_about(
        self,
        *,
        event_ids: Collection[str] = (),
        registration_ids: Collection[int] = (),
        recipient_normalized: str | None = None,
        erased_mark: str | None = None,
    ) -> list[Reply]:
        """Replies about these events or registrations, or to this address."""

        def wanted(r: Reply) -> bool:
            about = (
                r.event_id in event_ids
                or r.registration_id in registration_ids
                or (recipient_normalized is not None and r.recipient_normalized == recipient_normalized)
            )
            holds = erased_mark is None or (
                r.recipient != erased_mark
                or r.recipient_normalized != ""
                or bool(r.data)
                or "@" in (r.last_error or "")
            )
            return about and holds

        return [r for r in self._replies() if wanted(r)]

    def _ledger_holds(self, e: LedgerEntry, mark: str) -> bool:
        return (
            e.sender is not None or e.message_id is not None or (e.subject is not None and e.subject != mark)
        )

    def ledger_by_ids(self, ledger_ids: Collection[int], erased_mark: str | None = None) -> list[LedgerEntry]:
        """Ledger entries by id."""
        return sorted(
            (
                e
                for e in self.d.ledger.values()
                if e.id in ledger_ids and (erased_mark is None or self._ledger_holds(e, erased_mark))
            ),
            key=lambda e: e.id,
        )

    def ledger_senders(self) -> list[str]:
        """Every distinct sender."""
        return sorted({e.sender for e in self.d.ledger.values() if e.sender is not None})

    def ledger_ids_from(self, senders: Collection[str]) -> set[int]:
        """Entries from these senders."""
        return {e.id for e in self.d.ledger.values() if e.sender in senders}

    def ledger_links(self, ledger_ids: Collection[int]) -> dict[int, set[str]]:
        """The events each entry is tied to."""
        links: dict[int, set[str]] = {}
        pairs: list[tuple[int | None, str | None]] = [
            (r.ledger_id, r.event_id) for r in self.d.registrations.values()
        ]
        pairs += [(r.ledger_id, r.event_id) for r in self.d.outbox.values()]
        for ledger_id, event_id in pairs:
            if ledger_id is not None and ledger_id in ledger_ids and event_id is not None:
                links.setdefault(ledger_id, set()).add(event_id)
        return links

    def unlinked_ledger(self, recorded_before: datetime, erased_mark: str) -> list[LedgerEntry]:
        """Old entries tied to nothing, still holding personal data."""
        linked = {r.ledger_id for r in self.d.registrations.values()} | {
            r.ledger_id for r in self.d.outbox.values()
        }
        return sorted(
            (
                e
                for e in self.d.ledger.values()
                if e.processed_at < recorded_before
                and e.id not in linked
                and self._ledger_holds(e, erased_mark)
            ),
            key=lambda e: e.id,
        )

    def audit_entries(
        self,
        *,
        event_ids: Collection[str] = (),
        registration_ids: Collection[int] = (),
        with_address_only: bool = False,
    ) -> list[AuditEntry]:
        """Audit entries of these events or registrations."""
        return sorted(
            (
                a
                for a in self.d.audit.values()
                if (a.event_id in event_ids or a.registration_id in registration_ids)
                and (not with_address_only or "@" in a.actor or "@" in a.detail)
            ),
            key=lambda a: a.id,
        )

    def mentioning(self, needles: Sequence[str]) -> tuple[list[LedgerEntry], list[AuditEntry], list[Reply]]:
        """Entries whose free text has a needle (any case)."""
        lowered = [n.lower() for n in needles]

        def has(*texts: str | None) -> bool:
            return any(n in (t or "").lower() for t in texts for n in lowered)

        return (
            [e for e in sorted(self.d.ledger.values(), key=lambda e: e.id) if has(e.reason, e.rule_hits)],
            [a for a in sorted(self.d.audit.values(), key=lambda a: a.id) if has(a.actor, a.detail)],
            [r for r in self._replies() if has(r.last_error)],
        )

    def change_registration(self, registration_id: int, changes: Mapping[str, object]) -> None:
        """Set fields of a registration."""
        self.d.registrations[registration_id] = _changed(self.d.registrations[registration_id], changes)

    def change_ledger(self, ledger_id: int, changes: Mapping[str, object]) -> None:
        """Set fields of a ledger entry."""
        self.d.ledger[ledger_id] = _changed(self.d.ledger[ledger_id], changes)

    def change_reply(self, outbox_id: int, changes: Mapping[str, object]) -> None:
        """Set fields of a reply."""
        self.d.outbox[outbox_id] = _changed(self.d.outbox[outbox_id], changes)

    def change_audit(self, audit_id: int, changes: Mapping[str, object]) -> None:
        """Set fields of an audit entry."""
        self.d.audit[audit_id] = _changed(self.d.audit[audit_id], changes)
