"""Retention (DSGVO): erase each event's personal data after `delete_after_days`, and old unlinked mail."""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

from mailbot.core.model import Event
from mailbot.core.privacy import (
    DEFAULT_RETENTION,
    ERASED,
    RETENTION_ACTOR,
    SEND_GRACE,
    Erased,
    EventPurge,
    PurgeReport,
    erase_at,
)
from mailbot.ports.addresses import Addresses
from mailbot.ports.store import Store, UnitOfWork
from mailbot.service.privacy.eraser import Eraser, senders_of

log = logging.getLogger("mailbot")


def purge_due(
    db: Store,
    events: Sequence[Event],
    now: datetime,
    *,
    addresses: Addresses,
    dry_run: bool = False,
    compact: bool = True,
) -> PurgeReport:
    """Erase the personal data of every event past `starts_at + delete_after_days`, and of old unlinked mail.

    `events` are the configured ones; an event the database knows but the config no longer lists is erased
    after the default 30 days. Mail tied to no event (not the desk's business, machines, held or rejected
    mail) loses its sender, subject and Message-ID once it was recorded longer ago than the longest
    retention configured. Safe to call on every pass: what is erased is not touched again, a reply queued
    in the last day still goes out first, and only an event's erasure (not aged-out mail) is followed by
    compacting the database (`compact`), which drops the old row images the erased values leave behind.
    """
    return _purge(db, addresses, events, now, only=None, force=False, dry_run=dry_run, compact=compact)


def purge_event(
    db: Store,
    events: Sequence[Event],
    event_id: str,
    now: datetime,
    *,
    addresses: Addresses,
    force: bool = False,
    dry_run: bool = False,
    compact: bool = True,
) -> PurgeReport:
    """Erase one event's personal data if it is due, or at once with `force` (whatever its date)."""
    return _purge(db, addresses, events, now, only=event_id, force=force, dry_run=dry_run, compact=compact)


def _purge(
    db: Store,
    addresses: Addresses,
    events: Sequence[Event],
    now: datetime,
    *,
    only: str | None,
    force: bool,
    dry_run: bool,
    compact: bool,
) -> PurgeReport:
    with db.transaction() as tx:
        known = tx.event_starts()
    plan = {event_id: starts + DEFAULT_RETENTION for event_id, starts in known.items()}
    plan |= {event.id: erase_at(event) for event in events}
    due = {event_id for event_id, at in plan.items() if at <= now}
    if only is not None and force:
        due.add(only)
    targets = sorted(due) if only is None else [only] if only in due else []
    results = []
    for event_id in targets:
        with db.transaction() as tx:
            if event_id in known:
                tx.lock_event(event_id)  # no registration changes under our feet (a mail being booked)
            eraser = Eraser(
                tx,
                now,
                dry_run=dry_run,
                actor=RETENTION_ACTOR,
                detail="personal data erased "
                + ("on request (mailbot purge --now)" if force else "after retention"),
                keep_unsent_since=None if force else now - SEND_GRACE,
            )
            _erase_event(tx, addresses, eraser, event_id, due)
        results.append(EventPurge(event_id, plan[event_id], eraser.result()))
    unlinked, cutoff = Erased(), None
    if only is None:
        cutoff = now - max([timedelta(days=e.delete_after_days) for e in events], default=DEFAULT_RETENTION)
        with db.transaction() as tx:
            eraser = Eraser(
                tx, now, dry_run=dry_run, actor=RETENTION_ACTOR, detail="", keep_unsent_since=now - SEND_GRACE
            )
            for row in tx.unlinked_ledger(cutoff, ERASED):
                eraser.ledger_row(row)
        unlinked = eraser.result()
    not_due = sorted(
        ((event_id, at) for event_id, at in plan.items() if event_id not in due and only in (None, event_id)),
        key=lambda item: (item[1], item[0]),
    )
    report = PurgeReport(tuple(results), unlinked, cutoff, tuple(not_due), dry_run)
    if dry_run:
        return report
    for item in report.events:
        if item.erased.total:
            log.info("%s: personal data erased: %s", item.event_id, item.erased.describe())
    if unlinked.total:
        log.info("mail tied to no event: personal data erased: %s", unlinked.describe())
    # Compacting rewrites the whole database: once per event erased, not for the few mails a pass may age out.
    if compact and any(item.erased.total for item in report.events):
        db.compact()
    return report


def _erase_event(
    tx: UnitOfWork, addresses: Addresses, eraser: Eraser, event_id: str, due: Collection[str]
) -> None:
    """Everything personal about one event, in `tx`: registrations, their mails, replies, audit trail.

    A mail that is also tied to an event not due yet (one mail naming two keywords) keeps its ledger data
    until that event is due too. Other mail from the event's registrants that is tied to no event (a thank
    you, an out-of-office reply) goes with it.
    """
    registrations = tx.registrations_of_events([event_id], ERASED)
    ledger_ids = tx.event_ledger_ids([event_id])
    people = {r.email_normalized for r in registrations if r.email_normalized}
    ledger_ids |= tx.ledger_ids_from(senders_of(tx, addresses, people))
    entries = tx.ledger_by_ids(ledger_ids, ERASED)  # only those still holding personal data
    links = tx.ledger_links([e.id for e in entries])
    allowed = set(due) | {event_id}
    for registration in registrations:
        eraser.registration(registration)
    for reply in tx.replies_about(event_ids=[event_id], erased_mark=ERASED):
        eraser.reply(reply)
    for entry in entries:
        if links.get(entry.id, set()) <= allowed:
            eraser.ledger_row(entry)
    for audit in tx.audit_entries(event_ids=[event_id], with_address_only=True):
        eraser.audit(audit)
