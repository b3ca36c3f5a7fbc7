"""Shim during the move (issue 14): the erasure queries live in mailbot.adapters.db.erasure."""

from mailbot.adapters.db.erasure import (
    audit_rows,
    compact,
    event_ledger_ids,
    event_starts,
    ledger_ids_from,
    ledger_links,
    ledger_rows,
    ledger_senders,
    mentioning,
    outbox_rows,
    registrations_of_events,
    registrations_of_person,
    unlinked_ledger,
)

__all__ = [
    "audit_rows",
    "compact",
    "event_ledger_ids",
    "event_starts",
    "ledger_ids_from",
    "ledger_links",
    "ledger_rows",
    "ledger_senders",
    "mentioning",
    "outbox_rows",
    "registrations_of_events",
    "registrations_of_person",
    "unlinked_ledger",
]
