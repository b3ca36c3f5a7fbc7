"""Registrations by staff and the waitlist: hotline/admin add and cancel, promotion onto free seats."""

from __future__ import annotations

import logging
from datetime import datetime

from mailbot.core import booking, entry
from mailbot.core.model import Address, Channel, Decision, Event, ReplyStatus, Status
from mailbot.errors import MailbotError
from mailbot.ports.store import UnitOfWork
from mailbot.redact import mask_address
from mailbot.service import mailings
from mailbot.service.context import Context
from mailbot.service.results import AdminRegistration

log = logging.getLogger("mailbot")


def _who(name: str, email: str | None, phone: str | None) -> str:
    """A person for a staff member's own screen: name and whole address, or name and phone."""
    if email:
        return f"{name} <{email}>" if name else email
    return f"{name}, phone {phone or '-'}: no mail, tell them by phone"


def promote_all(ctx: Context) -> None:
    """Fill free seats from the waitlists (after a capacity was raised, or a seat freed elsewhere)."""
    now = ctx.clock()
    for event in ctx.config.events:
        with ctx.db.transaction() as tx:
            tx.lock_event(event.id)
            for line in promote(ctx, tx, event, now):
                log.info("%s", line)


def promote(
    ctx: Context, tx: UnitOfWork, event: Event, now: datetime, *, for_staff: bool = False
) -> list[str]:
    """Move the first waitlisted people (strict FIFO) onto free seats, each with a mail; in `tx`.

    One line per promotion: for the ledger and the log, with the address masked; `for_staff` (a staff
    command's own output): with name and whole address or phone, to be read back on the phone.
    """
    lines = []
    for row in tx.waitlist_head(event.id, booking.seats_to_promote(event, tx.counts(event.id), now)):
        seat = tx.promote(row.id, now)
        decision = Decision(
            reply=ReplyStatus.PROMOTED,
            status=Status.CONFIRMED,
            new_registration=False,
            position=row.position,
            seat=seat,
        )
        if row.email:
            mailings.compose(
                ctx,
                tx,
                event=event,
                decision=decision,
                recipient=Address(row.name, row.email),
                registration_id=row.id,
                ledger_id=row.ledger_id,
                now=now,
                original_message_id=row.message_id,
                subject=mailings.subject_of(ctx, event, decision),
            )
        who = _who(row.name, row.email, row.phone) if for_staff else mask_address(row.email)
        lines.append(f"{event.id}: promoted position {row.position} ({who})")
    return lines


def admin_register(
    ctx: Context,
    event_id: str,
    *,
    name: str,
    email: str | None,
    phone: str | None,
    received_at: datetime | None,
    channel: Channel,
    actor: str,
    tx: UnitOfWork | None = None,
    notify: bool | None = True,
    check_arrival: bool = False,
) -> AdminRegistration:
    """Record a registration from the hotline or an admin in arrival order; mail the person if we can.

    The window doesn't apply (staff decide). An email address or phone number that already holds an
    active registration gets no second one (the decision says duplicate, with the registration it holds).
    `notify`: True mails the person (also a duplicate notice), False never, None only a new registration.
    `check_arrival` (`mailbot add`): refuse a back-dated or future `received_at`, warn after the start
    (core/entry.py); a refusal raises MailbotError and records nothing.
    """
    if tx is None:
        with ctx.db.transaction() as own:
            return admin_register(
                ctx,
                event_id,
                name=name,
                email=email,
                phone=phone,
                received_at=received_at,
                channel=channel,
                actor=actor,
                tx=own,
                notify=notify,
                check_arrival=check_arrival,
            )
    event = ctx.events[event_id]
    now = ctx.clock()
    checked = ctx.addresses.check(email) if email else None
    normalized = checked.normalized if checked else None
    if checked is not None and normalized is None:
        raise MailbotError(f"not a valid email address: {email!r} ({checked.reason})")
    tx.lock_event(event_id)
    if normalized:
        held = tx.active_row(event_id, normalized)
    else:
        held = tx.active_by_phone(event_id, phone) if phone else None
    arrival = entry.Received(received_at or now)
    if held is None and check_arrival:
        arrival = entry.received(event, received_at, now=now, last=tx.last_received(event_id), tz=ctx.tz)
        if arrival.refusal:
            raise MailbotError(f"add: {arrival.refusal}")
    existing = tx.existing_of(held) if held is not None else None
    decision = booking.decide(event, tx.counts(event_id), existing)
    registration_id = held.id if held is not None else None
    if decision.new_registration:
        assert decision.status is not None
        registration_id = tx.add_registration(
            event_id=event_id,
            position=decision.position,
            status=decision.status,
            name=name,
            email=email,
            email_normalized=normalized,
            channel=channel.value,
            received_at=arrival.at,
            ledger_id=None,
            message_id=None,
            now=now,
            actor=actor,
            phone=phone,
        )
    mailed = bool(email) and (notify if notify is not None else decision.new_registration)
    if mailed:
        assert email is not None
        mailings.compose(
            ctx,
            tx,
            event=event,
            decision=decision,
            recipient=Address(name, email),
            registration_id=registration_id,
            ledger_id=None,
            now=now,
            normalized=normalized,
            subject=mailings.subject_of(ctx, event, decision),
        )
    return AdminRegistration(
        decision, registration_id, held.name if held else name, mailed=mailed, warning=arrival.warning
    )


def admin_cancel(
    ctx: Context, event_id: str, *, email: str | None, registration_id: int | None, quiet: bool, actor: str
) -> tuple[Decision, list[str]]:
    """Cancel a registration by address or id; the waitlist moves up in the same transaction.

    The person gets the usual `cancelled` mail unless `quiet`; promoted people always get theirs.
    """
    event = ctx.events[event_id]
    now = ctx.clock()
    with ctx.db.transaction() as tx:
        tx.lock_event(event_id)
        if registration_id is not None:
            row = tx.registration(registration_id)
            if row is not None and row.event_id != event_id:
                row = None
        else:
            checked = ctx.addresses.check(email or "")
            normalized = checked.normalized
            if normalized is None:
                raise MailbotError(f"not a valid email address: {email!r} ({checked.reason})")
            row = tx.active_row(event_id, normalized)
        if row is None or row.status == Status.CANCELLED.value:
            return Decision(
                reply=ReplyStatus.NOT_REGISTERED, status=None, new_registration=False, position=0
            ), []
        tx.cancel_row(row, now, actor)
        decision = Decision(
            reply=ReplyStatus.CANCELLED,
            status=Status.CANCELLED,
            new_registration=False,
            position=row.position,
        )
        if row.email and not quiet:
            mailings.compose(
                ctx,
                tx,
                event=event,
                decision=decision,
                recipient=Address(row.name, row.email),
                registration_id=row.id,
                ledger_id=None,
                now=now,
                original_message_id=row.message_id,
                subject=mailings.subject_of(ctx, event, decision),
            )
        return decision, promote(ctx, tx, event, now, for_staff=True)
