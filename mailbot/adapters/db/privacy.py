"""The privacy repository: finding personal data for erasure and export, and changing it field by field."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from datetime import datetime
from typing import TypeVar

from sqlalchemy import ColumnElement, false, func, or_, select
from sqlalchemy.orm import QueryableAttribute

from mailbot.adapters.db.schema import AuditRow, Base, EventRow, LedgerRow, OutboxRow, RegistrationRow
from mailbot.adapters.db.unit_of_work import TxBase
from mailbot.adapters.db.values import audit_entry_of, ledger_entry_of, registration_of, reply_of
from mailbot.core import subaddress
from mailbot.core.records import AuditEntry, LedgerEntry, Registration, Reply

_CHUNK = 500  # ids per IN (...): well below SQLite's limit of bound parameters
_T = TypeVar("_T")
_R = TypeVar("_R", bound=Base)


def _chunks(values: Collection[_T]) -> Iterator[list[_T]]:
    items = list(values)
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _holds_registration_data(erased_mark: str) -> ColumnElement[bool]:
    return or_(
        RegistrationRow.name != erased_mark,
        RegistrationRow.email.is_not(None),
        RegistrationRow.email_normalized.is_not(None),
        RegistrationRow.phone.is_not(None),
        RegistrationRow.message_id.is_not(None),
    )


def _holds_ledger_data(erased_mark: str) -> ColumnElement[bool]:
    # A row whose sender and Message-ID are gone and whose subject is the mark (or was never known) is done.
    return or_(
        LedgerRow.sender.is_not(None), LedgerRow.message_id.is_not(None), LedgerRow.subject != erased_mark
    )


def _holds_reply_data(erased_mark: str) -> ColumnElement[bool]:
    return or_(
        OutboxRow.recipient != erased_mark,
        OutboxRow.recipient_normalized != "",
        func.length(OutboxRow.data) > 0,
        OutboxRow.last_error.contains("@"),
    )


class PrivacyRepository(TxBase):
    """What retention, forgetting and a person's export read, and the field changes erasure makes."""

    def event_starts(self) -> dict[str, datetime]:
        """Every event the database knows (configured now or earlier) with its start."""
        return {
            row.id: row.starts_at for row in self.session.execute(select(EventRow.id, EventRow.starts_at))
        }

    def registrations_of_events(self, event_ids: Collection[str], erased_mark: str) -> list[Registration]:
        """The registrations (any status) of these events that still hold personal data."""
        rows: list[Registration] = []
        for chunk in _chunks(event_ids):
            query = (
                select(RegistrationRow)
                .where(RegistrationRow.event_id.in_(chunk), _holds_registration_data(erased_mark))
                .order_by(RegistrationRow.id)
            )
            rows += [registration_of(r) for r in self.session.scalars(query)]
        return rows

    def registrations_of_person(self, email_normalized: str) -> list[Registration]:
        """All registrations (any event, any status) of one normalised address, oldest first."""
        query = (
            select(RegistrationRow)
            .where(RegistrationRow.email_normalized == email_normalized)
            .order_by(RegistrationRow.received_at, RegistrationRow.id)
        )
        return [registration_of(r) for r in self.session.scalars(query)]

    def event_ledger_ids(self, event_ids: Collection[str]) -> set[int]:
        """Ledger entries tied to these events: the mails behind their registrations and those answered."""
        ids: set[int] = set()
        for chunk in _chunks(event_ids):
            ids.update(
                self.session.scalars(
                    select(RegistrationRow.ledger_id).where(
                        RegistrationRow.event_id.in_(chunk), RegistrationRow.ledger_id.is_not(None)
                    )
                )
            )
            ids.update(
                self.session.scalars(
                    select(OutboxRow.ledger_id).where(
                        OutboxRow.event_id.in_(chunk), OutboxRow.ledger_id.is_not(None)
                    )
                )
            )
        return {i for i in ids if i is not None}

    def replies_about(
        self,
        *,
        event_ids: Collection[str] = (),
        registration_ids: Collection[int] = (),
        recipient_normalized: str | None = None,
        erased_mark: str | None = None,
    ) -> list[Reply]:
        """Replies about these events, or these registrations, or to this address; oldest first.

        With `erased_mark`, only those that still hold personal data.
        """
        found: dict[int, OutboxRow] = {}
        conditions: list[ColumnElement[bool]] = [OutboxRow.event_id.in_(c) for c in _chunks(event_ids)]
        conditions += [OutboxRow.registration_id.in_(c) for c in _chunks(registration_ids)]
        if recipient_normalized is not None:
            conditions.append(OutboxRow.recipient_normalized == recipient_normalized)
        for condition in conditions:
            query = select(OutboxRow).where(condition)
            if erased_mark is not None:
                query = query.where(_holds_reply_data(erased_mark))
            for row in self.session.scalars(query):
                found[row.id] = row
        return [reply_of(found[k]) for k in sorted(found)]

    def ledger_by_ids(self, ledger_ids: Collection[int], erased_mark: str | None = None) -> list[LedgerEntry]:
        """Ledger entries by id, in id order; with `erased_mark`, only those still holding personal data."""
        rows: list[LedgerRow] = []
        for chunk in _chunks(ledger_ids):
            query = select(LedgerRow).where(LedgerRow.id.in_(chunk))
            if erased_mark is not None:
                query = query.where(_holds_ledger_data(erased_mark))
            rows += self.session.scalars(query)
        return [ledger_entry_of(r) for r in sorted(rows, key=lambda r: r.id)]

    def ledger_senders(self) -> list[str]:
        """Every distinct sender address the ledger still holds."""
        query = select(LedgerRow.sender).where(LedgerRow.sender.is_not(None)).distinct()
        return [s for s in self.session.scalars(query) if s is not None]

    def ledger_ids_from(self, senders: Collection[str]) -> set[int]:
        """Ids of the ledger entries whose sender is one of these (exactly as stored)."""
        ids: set[int] = set()
        for chunk in _chunks(senders):
            ids.update(self.session.scalars(select(LedgerRow.id).where(LedgerRow.sender.in_(chunk))))
        return ids

    def ledger_links(self, ledger_ids: Collection[int]) -> dict[int, set[str]]:
        """For each ledger entry, the events a registration or a reply ties it to (absent: none)."""
        links: dict[int, set[str]] = {}
        for chunk in _chunks(ledger_ids):
            pairs = list(
                self.session.execute(
                    select(RegistrationRow.ledger_id, RegistrationRow.event_id).where(
                        RegistrationRow.ledger_id.in_(chunk)
                    )
                )
            )
            pairs += self.session.execute(
                select(OutboxRow.ledger_id, OutboxRow.event_id).where(
                    OutboxRow.ledger_id.in_(chunk), OutboxRow.event_id.is_not(None)
                )
            )
            for ledger_id, event_id in pairs:
                if ledger_id is not None and event_id is not None:
                    links.setdefault(ledger_id, set()).add(event_id)
        return links

    def unlinked_ledger(self, recorded_before: datetime, erased_mark: str) -> list[LedgerEntry]:
        """Entries recorded before then, tied to no registration and no reply, still holding personal data."""
        by_registration = select(RegistrationRow.ledger_id).where(RegistrationRow.ledger_id.is_not(None))
        by_reply = select(OutboxRow.ledger_id).where(OutboxRow.ledger_id.is_not(None))
        query = (
            select(LedgerRow)
            .where(
                LedgerRow.processed_at < recorded_before,
                LedgerRow.id.not_in(by_registration),
                LedgerRow.id.not_in(by_reply),
                _holds_ledger_data(erased_mark),
            )
            .order_by(LedgerRow.id)
        )
        return [ledger_entry_of(r) for r in self.session.scalars(query)]

    def audit_entries(
        self,
        *,
        event_ids: Collection[str] = (),
        registration_ids: Collection[int] = (),
        with_address_only: bool = False,
    ) -> list[AuditEntry]:
        """Audit entries of these events or registrations, oldest first (optionally: naming an address)."""
        found: dict[int, AuditRow] = {}
        conditions: list[ColumnElement[bool]] = [AuditRow.event_id.in_(c) for c in _chunks(event_ids)]
        conditions += [AuditRow.registration_id.in_(c) for c in _chunks(registration_ids)]
        for condition in conditions:
            query = select(AuditRow).where(condition)
            if with_address_only:
                query = query.where(or_(AuditRow.actor.contains("@"), AuditRow.detail.contains("@")))
            for row in self.session.scalars(query):
                found[row.id] = row
        return [audit_entry_of(found[k]) for k in sorted(found)]

    def mentioning(self, needles: Sequence[str]) -> tuple[list[LedgerEntry], list[AuditEntry], list[Reply]]:
        """Entries whose free text (reason, rule hits, actor, detail, error) has a needle.

        Compared case-insensitively (SQL lower(): ASCII on SQLite, which is what addresses mostly are).
        """

        def any_of(*columns: QueryableAttribute[str] | QueryableAttribute[str | None]) -> ColumnElement[bool]:
            clauses = [func.lower(c).contains(n.lower(), autoescape=True) for c in columns for n in needles]
            return or_(false(), *clauses)

        ledger = self.session.scalars(select(LedgerRow).where(any_of(LedgerRow.reason, LedgerRow.rule_hits)))
        audit = self.session.scalars(select(AuditRow).where(any_of(AuditRow.actor, AuditRow.detail)))
        outbox = self.session.scalars(select(OutboxRow).where(any_of(OutboxRow.last_error)))
        return (
            [ledger_entry_of(r) for r in ledger],
            [audit_entry_of(r) for r in audit],
            [reply_of(r) for r in outbox],
        )

    def change_registration(self, registration_id: int, changes: Mapping[str, object]) -> None:
        """Set these fields of a registration (by the value's field names); the folded address follows."""
        row = self._change(RegistrationRow, registration_id, changes)
        if "email_normalized" in changes:
            normalized = row.email_normalized
            row.email_folded = subaddress.fold(normalized) if normalized else None

    def change_ledger(self, ledger_id: int, changes: Mapping[str, object]) -> None:
        """Set these fields of a ledger entry."""
        self._change(LedgerRow, ledger_id, changes)

    def change_reply(self, outbox_id: int, changes: Mapping[str, object]) -> None:
        """Set these fields of a reply."""
        self._change(OutboxRow, outbox_id, changes)

    def change_audit(self, audit_id: int, changes: Mapping[str, object]) -> None:
        """Set these fields of an audit entry."""
        self._change(AuditRow, audit_id, changes)

    def _change(self, model: type[_R], row_id: int, changes: Mapping[str, object]) -> _R:
        row = self.session.get(model, row_id)
        assert row is not None
        for name, value in changes.items():
            if name == "id" or name not in model.__table__.columns:
                raise ValueError(f"{model.__tablename__} has no field {name!r} to change")
            setattr(row, name, value)
        return row
