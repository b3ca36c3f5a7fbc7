"""The fake store's data and what its repositories share."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mailbot.core import subaddress
from mailbot.core.model import Event
from mailbot.core.records import AuditEntry, LedgerEntry, Registration, Reply

if TYPE_CHECKING:
    from tests.fakes.store import FakeStore


@dataclass
class Data:
    """Everything the fake stores; values are frozen, so a shallow copy is a snapshot."""

    events: dict[str, Event] = field(default_factory=dict)
    registrations: dict[int, Registration] = field(default_factory=dict)
    ledger: dict[int, LedgerEntry] = field(default_factory=dict)
    outbox: dict[int, Reply] = field(default_factory=dict)
    audit: dict[int, AuditEntry] = field(default_factory=dict)
    state: dict[str, str] = field(default_factory=dict)

    def copy(self) -> Data:
        """A snapshot (for rollback)."""
        return Data(**{f.name: dict(getattr(self, f.name)) for f in dataclasses.fields(self)})

    def restore(self, snapshot: Data) -> None:
        """Back to a snapshot."""
        for f in dataclasses.fields(self):
            setattr(self, f.name, dict(getattr(snapshot, f.name)))


class Base:
    """One unit of work over the fake's data."""

    def __init__(self, store: FakeStore) -> None:
        self.store = store
        self.d = store.data

    def _id(self) -> int:
        return next(self.store.ids)

    def person(self, email_normalized: str) -> str:
        """The address, or without its +tag."""
        return subaddress.fold(email_normalized) if self.store.fold_subaddress else email_normalized

    def _of_event(self, event_id: str) -> list[Registration]:
        return sorted(
            (r for r in self.d.registrations.values() if r.event_id == event_id), key=lambda r: r.position
        )

    def _replies(self) -> list[Reply]:
        return sorted(self.d.outbox.values(), key=lambda r: r.id)
