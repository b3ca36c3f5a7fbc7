"""The SQL side of erasing personal data (service/privacy decides what and when): finders and compaction."""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterator, Sequence
from datetime import datetime
from typing import TypeVar

from sqlalchemy import ColumnElement, false, func, or_, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import QueryableAttribute

from mailbot.adapters.db.engine import Database
from mailbot.adapters.db.schema import AuditRow, EventRow, LedgerRow, OutboxRow, RegistrationRow
from mailbot.adapters.db.tx import Tx
from mailbot.redact import describe_error

log = logging.getLogger("mailbot")

_CHUNK = 500  # ids per IN (...): well below SQLite's limit of bound parameters
_T = TypeVar("_T")


def _chunks(values: Collection[_T]) -> Iterator[list[_T]]:
    items = list(values)
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def event_starts(tx: Tx) -> dict[str, datetime]:
    """Every event the database knows (configured now or earlier) with its start."""
    return {row.id: row.starts_at for row in tx.session.execute(select(EventRow.id, EventRow.starts_at))}


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


def registrations_of_events(tx: Tx, event_ids: Collection[str], erased_mark: str) -> list[RegistrationRow]:
    """The registrations (any status) of these events that still hold personal data."""
    rows: list[RegistrationRow] = []
    for chunk in _chunks(event_ids):
        rows += tx.session.scalars(
            select(RegistrationRow)
            .where(RegistrationRow.event_id.in_(chunk), _holds_registration_data(erased_mark))
            .order_by(RegistrationRow.id)
        )
    return rows


def registrations_of_person(tx: Tx, email_normalized: str) -> list[RegistrationRow]:
    """All registrations (any event, any status) of one normalised address, oldest first."""
    return list(
        tx.session.scalars(
            select(RegistrationRow)
            .where(RegistrationRow.email_normalized == email_normalized)
            .order_by(RegistrationRow.received_at, RegistrationRow.id)
        )
    )


def event_ledger_ids(tx: Tx, event_ids: Collection[str]) -> set[int]:
    """Ledger rows tied to these events: the mails behind their registrations and the mails they answered."""
    ids: set[int] = set()
    for chunk in _chunks(event_ids):
        ids.update(
            tx.session.scalars(
                select(RegistrationRow.ledger_id).where(
                    RegistrationRow.event_id.in_(chunk), RegistrationRow.ledger_id.is_not(None)
                )
            )
        )
        ids.update(
            tx.session.scalars(
                select(OutboxRow.ledger_id).where(
                    OutboxRow.event_id.in_(chunk), OutboxRow.ledger_id.is_not(None)
                )
            )
        )
    return ids


def outbox_rows(
    tx: Tx,
    *,
    event_ids: Collection[str] = (),
    registration_ids: Collection[int] = (),
    recipient_normalized: str | None = None,
    erased_mark: str | None = None,
) -> list[OutboxRow]:
    """Outbox rows about these events, or these registrations, or to this address; oldest first.

    With `erased_mark`, only rows that still hold personal data.
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
        for row in tx.session.scalars(query):
            found[row.id] = row
    return [found[k] for k in sorted(found)]


def ledger_rows(tx: Tx, ledger_ids: Collection[int], erased_mark: str | None = None) -> list[LedgerRow]:
    """Ledger rows by id, in id order; with `erased_mark`, only those that still hold personal data."""
    rows: list[LedgerRow] = []
    for chunk in _chunks(ledger_ids):
        query = select(LedgerRow).where(LedgerRow.id.in_(chunk))
        if erased_mark is not None:
            query = query.where(_holds_ledger_data(erased_mark))
        rows += tx.session.scalars(query)
    return sorted(rows, key=lambda r: r.id)


def ledger_senders(tx: Tx) -> list[str]:
    """Every distinct sender address the ledger still holds."""
    query = select(LedgerRow.sender).where(LedgerRow.sender.is_not(None)).distinct()
    return [s for s in tx.session.scalars(query) if s is not None]


def ledger_ids_from(tx: Tx, senders: Collection[str]) -> set[int]:
    """Ids of the ledger rows whose sender is one of these (exactly as stored)."""
    ids: set[int] = set()
    for chunk in _chunks(senders):
        ids.update(tx.session.scalars(select(LedgerRow.id).where(LedgerRow.sender.in_(chunk))))
    return ids


def ledger_links(tx: Tx, ledger_ids: Collection[int]) -> dict[int, set[str]]:
    """For each ledger row, the events a registration or a reply ties it to (absent: tied to none)."""
    links: dict[int, set[str]] = {}
    for chunk in _chunks(ledger_ids):
        pairs = list(
            tx.session.execute(
                select(RegistrationRow.ledger_id, RegistrationRow.event_id).where(
                    RegistrationRow.ledger_id.in_(chunk)
                )
            )
        )
        pairs += tx.session.execute(
            select(OutboxRow.ledger_id, OutboxRow.event_id).where(
                OutboxRow.ledger_id.in_(chunk), OutboxRow.event_id.is_not(None)
            )
        )
        for ledger_id, event_id in pairs:
            if ledger_id is not None and event_id is not None:
                links.setdefault(ledger_id, set()).add(event_id)
    return links


def unlinked_ledger(tx: Tx, recorded_before: datetime, erased_mark: str) -> list[LedgerRow]:
    """Ledger rows recorded before then, tied to no registration and no reply, still holding personal data."""
    by_registration = select(RegistrationRow.ledger_id).where(RegistrationRow.ledger_id.is_not(None))
    by_reply = select(OutboxRow.ledger_id).where(OutboxRow.ledger_id.is_not(None))
    return list(
        tx.session.scalars(
            select(LedgerRow)
            .where(
                LedgerRow.processed_at < recorded_before,
                LedgerRow.id.not_in(by_registration),
                LedgerRow.id.not_in(by_reply),
                _holds_ledger_data(erased_mark),
            )
            .order_by(LedgerRow.id)
        )
    )


def audit_rows(
    tx: Tx,
    *,
    event_ids: Collection[str] = (),
    registration_ids: Collection[int] = (),
    with_address_only: bool = False,
) -> list[AuditRow]:
    """Audit entries of these events or registrations, oldest first (optionally: those naming an address)."""
    found: dict[int, AuditRow] = {}
    conditions: list[ColumnElement[bool]] = [AuditRow.event_id.in_(c) for c in _chunks(event_ids)]
    conditions += [AuditRow.registration_id.in_(c) for c in _chunks(registration_ids)]
    for condition in conditions:
        query = select(AuditRow).where(condition)
        if with_address_only:
            query = query.where(or_(AuditRow.actor.contains("@"), AuditRow.detail.contains("@")))
        for row in tx.session.scalars(query):
            found[row.id] = row
    return [found[k] for k in sorted(found)]


def mentioning(tx: Tx, needles: Sequence[str]) -> tuple[list[LedgerRow], list[AuditRow], list[OutboxRow]]:
    """Ledger, audit and outbox rows whose free text (reason, rule hits, actor, detail, error) has a needle.

    Compared case-insensitively (SQL lower(): ASCII on SQLite, which is what addresses mostly are).
    """

    def any_of(*columns: QueryableAttribute[str] | QueryableAttribute[str | None]) -> ColumnElement[bool]:
        clauses = [func.lower(c).contains(n.lower(), autoescape=True) for c in columns for n in needles]
        return or_(false(), *clauses)

    ledger = list(tx.session.scalars(select(LedgerRow).where(any_of(LedgerRow.reason, LedgerRow.rule_hits))))
    audit = list(tx.session.scalars(select(AuditRow).where(any_of(AuditRow.actor, AuditRow.detail))))
    outbox = list(tx.session.scalars(select(OutboxRow).where(any_of(OutboxRow.last_error))))
    return ledger, audit, outbox


def compact(db: Database) -> None:
    """Physically drop erased values: SQLite keeps old row images in free pages and the WAL until then.

    SQLite: VACUUM rebuilds the file from the live rows, and a TRUNCATE checkpoint empties the WAL.
    PostgreSQL: VACUUM FULL rewrites the four tables that held personal data (old row versions stay in
    the heap until then); it waits at most 10 s for its lock. Best effort: the data is already erased
    logically, a failure here is logged and the next purge tries again.
    """
    try:
        if db.engine.dialect.name == "sqlite":
            # On the DBAPI connection: it runs in autocommit mode (see db._sqlite_pragmas), and VACUUM
            # refuses to run inside the BEGIN IMMEDIATE that SQLAlchemy's connections start.
            raw = db.engine.raw_connection()
            try:
                cursor = raw.cursor()
                cursor.execute("VACUUM")
                cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                cursor.close()
            finally:
                raw.close()
            return
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("SET lock_timeout = '10s'"))
            conn.execute(text("VACUUM FULL ledger, registrations, outbox, audit_log"))
    except SQLAlchemyError as exc:
        log.warning("compacting the database after erasure failed: %s", describe_error(exc)[:300])
