"""Forget one person (right to erasure, Art. 17 DSGVO): cancel through the desk, then erase everywhere."""

from __future__ import annotations

import logging
import re

from mailbot.core.model import ReplyStatus, Status
from mailbot.core.privacy import FORGET_ACTOR, ForgetReport
from mailbot.errors import MailbotError
from mailbot.ports.addresses import Addresses
from mailbot.ports.store import UnitOfWork
from mailbot.redact import mask_address
from mailbot.service import registrations
from mailbot.service.context import Context
from mailbot.service.privacy.eraser import Eraser, senders_of

log = logging.getLogger("mailbot")


def forget(desk: Context, address: str, *, compact: bool = True) -> ForgetReport:
    """Erase one person everywhere (right to erasure): registrations of every event, mails, replies, audit.

    Their active registrations of events that have not started are cancelled first through the desk (the
    waitlist moves up and the promoted people are told; the person gets no mail), so no seat is left held
    by nobody. Registrations of events that started keep their status (the numbers of a past event stay
    true). Replies to them not sent yet are withdrawn. Other people's records that name them (a promotion
    line in the reason of someone's cancellation, a bounce report quoting the address) lose that mention.
    """
    normalized = desk.addresses.normalize(address)
    if normalized is None:
        raise MailbotError(f"not a valid email address: {mask_address(address)}")
    now = desk.clock()
    with desk.db.transaction() as tx:
        to_cancel = [
            (r.event_id, r.id)
            for r in tx.registrations_of_person(normalized)
            if r.status != Status.CANCELLED.value
            and r.event_id in desk.events
            and desk.events[r.event_id].starts_at > now
        ]
    cancelled, promoted = [], []
    for event_id, registration_id in to_cancel:
        decision, lines = registrations.admin_cancel(
            desk, event_id, email=None, registration_id=registration_id, quiet=True, actor=FORGET_ACTOR
        )
        if decision.reply is ReplyStatus.CANCELLED:
            cancelled.append(event_id)
            promoted += lines
    with desk.db.transaction() as tx:
        eraser = Eraser(
            tx,
            now,
            dry_run=False,
            actor=FORGET_ACTOR,
            detail="personal data erased on request (right to erasure)",
            keep_unsent_since=None,
        )
        _erase_person(tx, desk.addresses, eraser, normalized)
    erased = eraser.result()
    report = ForgetReport(mask_address(normalized), tuple(cancelled), tuple(promoted), erased)
    if erased.total:
        log.info("forgot %s: %s", report.masked, erased.describe())
        if compact:
            desk.db.compact()
    return report


def _erase_person(tx: UnitOfWork, addresses: Addresses, eraser: Eraser, normalized: str) -> None:
    registrations = tx.registrations_of_person(normalized)
    registration_ids = [r.id for r in registrations]
    replies = tx.replies_about(registration_ids=registration_ids, recipient_normalized=normalized)
    senders = senders_of(tx, addresses, [normalized])
    ledger_ids = {r.ledger_id for r in registrations if r.ledger_id is not None}
    ledger_ids |= {r.ledger_id for r in replies if r.ledger_id is not None}
    ledger_ids |= tx.ledger_ids_from(senders)
    # How other rows may name them: the address as written anywhere, and promotion lines ("promoted position
    # 3 (a***@example.org)") in the reason of the mail that freed the seat (masked: matched with its context).
    spellings = {normalized, *senders, *(r.email for r in registrations if r.email)}
    spellings |= {r.recipient for r in replies if "@" in r.recipient}
    promotions = {
        (f"{r.event_id}: promoted position {r.position} (", mask_address(r.email))
        for r in registrations
        if r.promoted_at is not None and r.email
    }
    for registration in registrations:
        eraser.registration(registration)
    for reply in replies:
        eraser.reply(reply)
    for entry in tx.ledger_by_ids(ledger_ids):
        eraser.ledger_row(entry)
    for audit in tx.audit_entries(registration_ids=registration_ids):
        eraser.audit(audit)
    needles = sorted(spellings, key=len, reverse=True)
    patterns = [re.escape(n) for n in needles]
    patterns += [
        rf"(?<={re.escape(before)}){re.escape(masked)}(?=\))" for before, masked in sorted(promotions)
    ]
    ledger, audits, outbox = tx.mentioning(needles + [f"{b}{m})" for b, m in sorted(promotions)])
    for entry in ledger:
        eraser.mention(entry, ("reason", "rule_hits"), patterns)
    for audit in audits:
        eraser.mention(audit, ("actor", "detail"), patterns)
    for reply in outbox:
        eraser.mention(reply, ("last_error",), patterns)
