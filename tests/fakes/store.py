"""An in-memory Store: the store port kept in dicts of core values, for fast service tests."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime

from mailbot.core import booking
from mailbot.core.model import ExportRow, Status
from mailbot.core.records import EventSummary, FailedReply, LedgerEntry, reply_state
from mailbot.ports.store import ReadingUnit
from tests.fakes.store_data import Data
from tests.fakes.store_mail import Mail
from tests.fakes.store_privacy import Privacy
from tests.fakes.store_registrations import Registrations


class FakeStore:
    """The store port in memory: one unit of work at a time, rolled back on an exception."""

    def __init__(self, *, fold_subaddress: bool = True) -> None:
        self.fold_subaddress = fold_subaddress
        self.data = Data()
        self.ids = itertools.count(1)
        self._lock = threading.RLock()
        self.transactions = 0  # how many units of work began (tests may assert batching)

    @contextmanager
    def transaction(self, *, buffered: bool = False) -> Iterator[FakeUnitOfWork]:  # noqa: ARG002
        """One unit of work; `buffered` changes nothing here (the fake writes at once)."""
        with self._lock:
            self.transactions += 1
            snapshot = self.data.copy()
            try:
                yield FakeUnitOfWork(self)
            except BaseException:
                self.data.restore(snapshot)
                raise

    def mark_sent(self, outbox_id: int, now: datetime) -> None:
        """The server accepted the reply (a unit of work of its own)."""
        with self.transaction() as uow:
            uow.mark_sent([(outbox_id, now)])

    @contextmanager
    def leader(self) -> Iterator[bool]:
        """Always the leader: no other process shares the fake."""
        yield True

    def compact(self) -> None:
        """Nothing keeps old values in memory."""

    def has_schema(self) -> bool:
        """Always ready."""
        return True

    def dispose(self) -> None:
        """Nothing to close."""

    def reading(self) -> AbstractContextManager[ReadingUnit]:
        """Not faked: the console's paged reads are tested against SQLite and PostgreSQL (tests/web)."""
        raise NotImplementedError("the fake store has no console reads")


class FakeUnitOfWork(Registrations, Mail, Privacy):
    """The repositories of one unit of work over the fake's data."""

    # --- the unit of work ---
    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Undo only the work inside on an exception."""
        snapshot = self.d.copy()
        try:
            yield
        except BaseException:
            self.d.restore(snapshot)
            raise

    def flush(self) -> None:
        """Nothing is held back."""

    def prefetch(self, event_ids: Sequence[str], addresses: Sequence[str], replies_since: datetime) -> None:
        """Nothing to read ahead."""

    # --- state ---
    def set_state(self, key: str, value: str) -> None:
        """Store a named value."""
        self.d.state[key] = value

    def clear_state(self, key: str) -> None:
        """Forget a named value."""
        self.d.state.pop(key, None)

    def get_state(self, key: str) -> str | None:
        """A named value, or None."""
        return self.d.state.get(key)

    # --- reports ---
    def summaries(self) -> list[EventSummary]:
        """Per event: the numbers of `mailbot status`."""
        result = []
        for ev in sorted(self.d.events.values(), key=lambda e: (e.starts_at, e.id)):
            regs = self._of_event(ev.id)
            replies = [r for r in self._replies() if r.event_id == ev.id]
            result.append(
                EventSummary(
                    event_id=ev.id,
                    capacity=ev.capacity,
                    confirmed=sum(r.status is Status.CONFIRMED for r in regs),
                    waitlisted=sum(r.status is Status.WAITLISTED for r in regs),
                    cancelled=sum(r.status is Status.CANCELLED for r in regs),
                    replies_pending=sum(r.sent_at is None and r.failed_at is None for r in replies),
                    replies_failed=sum(r.failed_at is not None for r in replies),
                    undeliverable=sum(r.undeliverable_at is not None for r in regs),
                )
            )
        return result

    def triage(self, outcomes: Sequence[str]) -> list[LedgerEntry]:
        """Entries that need a person."""
        return sorted(
            (e for e in self.d.ledger.values() if e.outcome in outcomes or "suppressed" in e.reason),
            key=lambda e: (e.internaldate, e.uid),
        )

    def failed_replies(self) -> list[FailedReply]:
        """Replies refused for good."""
        return [
            FailedReply(r.id, r.event_id, r.kind, r.recipient, r.attempts, r.failed_at, r.last_error)
            for r in self._replies()
            if r.failed_at is not None
        ]

    def ledger_counts(self) -> dict[str, int]:
        """Messages per outcome."""
        counts: dict[str, int] = {}
        for e in self.d.ledger.values():
            counts[e.outcome] = counts.get(e.outcome, 0) + 1
        return counts

    def export_rows(self, event_id: str | None) -> list[ExportRow]:
        """Registrations in arrival order per event, with the state of the latest reply."""
        latest = {r.registration_id: r for r in self._replies() if r.registration_id is not None}
        rows = []
        for ev in sorted({r.event_id for r in self.d.registrations.values()}):
            if event_id is not None and ev != event_id:
                continue
            regs = self._of_event(ev)
            for r, (seat, place) in zip(regs, booking.places([r.status for r in regs]), strict=True):
                reply = latest.get(r.id)
                rows.append(
                    ExportRow(
                        event_id=r.event_id,
                        position=r.position,
                        status=r.status.value,
                        name=r.name,
                        email=r.email or "",
                        phone=r.phone or "",
                        channel=r.channel,
                        received_at=r.received_at,
                        replied_at=r.replied_at,
                        reply_status=reply_state(
                            undeliverable=r.undeliverable_at is not None,
                            sent=None if reply is None else reply.sent_at is not None,
                            failed=None if reply is None else reply.failed_at is not None,
                        ),
                        cancelled_at=r.cancelled_at,
                        promoted_at=r.promoted_at,
                        seat=seat,
                        waitlist_place=place,
                    )
                )
        return rows
