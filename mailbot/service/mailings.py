"""Mails about a registration: compose one into the outbox; the access data and reminders to all, on time."""

from __future__ import annotations

import logging
from datetime import datetime

from mailbot.core import ics, replies
from mailbot.core.model import Address, Decision, Event, ReplyStatus, Status
from mailbot.ports.store import UnitOfWork
from mailbot.service.context import Context

log = logging.getLogger("mailbot")

# Mails that give or confirm a seat carry the event as a calendar entry (RFC 5545).
_CALENDAR_KINDS = (ReplyStatus.CONFIRMED, ReplyStatus.PROMOTED, ReplyStatus.ACCESS, ReplyStatus.REMINDER)


def subject_of(ctx: Context, event: Event, decision: Decision) -> str:
    """The subject of a mail that answers no mail (promotion, access data, reminder, phone booking)."""
    en = ctx.config.bot.language == "en"
    words = {
        ReplyStatus.PROMOTED: ("Ihr Platz ist bestätigt", "Your seat is confirmed"),
        ReplyStatus.ACCESS: ("Zugangsdaten", "Access details"),
        ReplyStatus.REMINDER: ("Erinnerung", "Reminder"),
        ReplyStatus.CANCELLED: ("Abmeldung bestätigt", "Cancellation confirmed"),
        # No cancel word here: a reply's subject counts as its words, and only the word "Abmeldung" in
        # the owner's own answer may cancel (not a "Re:" of our subject).
        ReplyStatus.CONFIRM_CANCEL: ("Bitte bestätigen", "Please confirm"),
    }.get(decision.reply, ("Ihre Anmeldung", "Your registration"))
    return f"{words[1] if en else words[0]}: {event.title}"


def compose(
    ctx: Context,
    tx: UnitOfWork,
    *,
    event: Event,
    decision: Decision,
    recipient: Address,
    registration_id: int | None,
    ledger_id: int | None,
    now: datetime,
    normalized: str | None = None,
    original_subject: str = "",
    original_message_id: str | None = None,
    original_references: tuple[str, ...] = (),
    subject: str | None = None,
) -> None:
    """Build one mail about a registration and queue it in the outbox, in `tx`.

    Access data ride along in confirmations and promotions once they went out for the event, and always in
    access and reminder mails; those registrations count as served. Seat-giving mails carry an .ics entry,
    whose DESCRIPTION holds the access data exactly when the text does (never before they went out).
    """
    kind = decision.reply
    # An IDN domain goes out in A-labels, so any server takes the reply; a non-ASCII local part stays as
    # it is (RFC 6532 header, SMTPUTF8 to send it: the SMTP adapter refuses it where the server can't).
    recipient = Address(recipient.name, ctx.addresses.reply_address(recipient.address))
    with_access = bool(event.access_info) and (
        kind in (ReplyStatus.ACCESS, ReplyStatus.REMINDER)
        or (kind in (ReplyStatus.CONFIRMED, ReplyStatus.PROMOTED) and tx.access_started(event.id))
    )
    reply = replies.build_reply(
        event=event,
        decision=decision,
        recipient=recipient,
        original_subject=original_subject,
        original_message_id=original_message_id,
        original_references=original_references,
        message_id=ctx.new_message_id(),
        now=now,
        settings=ctx.settings[event.id],
        subject=subject,
        with_access=with_access,
    )
    if kind in _CALENDAR_KINDS:
        calendar = ics.event_calendar(
            event,
            uid=f"{event.id}-{registration_id or 0}@{ctx.rule_context.own_domain}",
            now=now,
            organizer=ctx.config.smtp.sender,
            # The calendar file is a part of the mail like the text: no access data before they went out.
            description=event.access_info if with_access else "",
            location=event.location,
        )
        ics.attach_calendar(reply, calendar)
    address = reply.recipient
    tx.add_outbox(
        event_id=event.id,
        registration_id=registration_id,
        ledger_id=ledger_id,
        kind=kind.value,
        envelope_from=ctx.config.smtp.sender_address,
        recipient=address,
        recipient_normalized=normalized or ctx.addresses.normalize(address) or address.lower(),
        message_id=reply.message_id,
        data=reply.as_bytes(),
        now=now,
    )
    if registration_id is not None and with_access:
        tx.mark_served(registration_id, ReplyStatus.ACCESS, now)
    if registration_id is not None and kind is ReplyStatus.REMINDER:
        tx.mark_served(registration_id, ReplyStatus.REMINDER, now)


def queue_mailing(ctx: Context, event_id: str, kind: ReplyStatus, *, dry_run: bool = False) -> list[str]:
    """Queue the access data or the reminder for every confirmed participant not yet served; exactly once.

    One mail per person (never one mail to many), never to the waitlist; returns the recipients.
    Safe to repeat after a crash: who was served is recorded with the queued mail, in one transaction.
    """
    event = ctx.events[event_id]
    now = ctx.clock()
    with ctx.db.transaction() as tx:
        tx.lock_event(event_id)
        rows = tx.unserved(event_id, kind)
        if dry_run:
            return [r.email or "" for r in rows]
        # An interrupted earlier run: its unsent mails of this kind are due again now (not after a lease).
        tx.release_kind(event_id, kind.value, now)
        for row in rows:
            decision = Decision(
                reply=kind, status=Status.CONFIRMED, new_registration=False, position=row.position
            )
            compose(
                ctx,
                tx,
                event=event,
                decision=decision,
                recipient=Address(row.name, row.email or ""),
                registration_id=row.id,
                ledger_id=row.ledger_id,
                now=now,
                original_message_id=row.message_id,
                subject=subject_of(ctx, event, decision),
            )
    if rows:
        log.info("%s: %s mail(s) '%s' queued", event_id, len(rows), kind.value)
    return [r.email or "" for r in rows]


def scheduled_mailings(ctx: Context) -> None:
    """Access data at `send_access_at` and reminders at `starts_at - reminder_before`, once each.

    Run by every pass: the database records who was served, so a restart neither skips nor repeats one.
    """
    now = ctx.clock()
    for event in ctx.config.events:
        if event.send_access_at is not None and event.send_access_at <= now < event.starts_at:
            queue_mailing(ctx, event.id, ReplyStatus.ACCESS)
        if (
            event.reminder_before is not None
            and event.starts_at - event.reminder_before <= now < event.starts_at
        ):
            queue_mailing(ctx, event.id, ReplyStatus.REMINDER)
