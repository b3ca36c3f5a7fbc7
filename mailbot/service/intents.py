"""A citizen's mail acted on: register, cancel (or ask the owner to confirm), status; the reply queued."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from mailbot.core import booking
from mailbot.core.model import (
    Address,
    Arrival,
    Channel,
    Decision,
    Event,
    InboundMessage,
    Intent,
    Outcome,
    ReplyStatus,
    Status,
)
from mailbot.core.records import Registration
from mailbot.ports.store import UnitOfWork
from mailbot.redact import mask_address
from mailbot.service import ledger, mailings, registrations
from mailbot.service.context import Context

log = logging.getLogger("mailbot")

REPLY_LIMIT_WINDOW = timedelta(days=1)  # max_replies_per_address_per_day counts the replies of this window
# Which outcome names a mail that acted on several events (the most consequential first).
_OUTCOME_RANK = (
    Outcome.REGISTERED,
    Outcome.CANCELLED,
    Outcome.CANCEL_REQUESTED,
    Outcome.STATUS,
    Outcome.DUPLICATE,
    Outcome.OUTSIDE_WINDOW,
    Outcome.NOT_REGISTERED,
)


def act(
    ctx: Context,
    tx: UnitOfWork,
    arrival: Arrival,
    *,
    msg: InboundMessage,
    intent: Intent,
    event_ids: Sequence[str],
    sender: Address,
    normalized: str,
    hits: Sequence[tuple[str, str]],
    references: Sequence[str] = (),
) -> Outcome:
    """Ledger row, registration changes, promotions and replies: one savepoint of the batch's transaction
    (invariant 5); the batch holds the event locks, so seat allocation stays serialised per event.

    `references`: the Message-IDs of ours the mail answers; a cancellation needs one sent to the
    registered address, else the owner is asked to confirm (invariant 8, see `_ask_to_confirm`)."""
    now = ctx.clock()
    reasons: list[str] = []
    actor = f"mail uid {arrival.uid} from {mask_address(sender.address)}"
    if arrival.late:
        actor = f"{actor}, {arrival.late}"
    found: list[Outcome] = []
    ledger_id = ledger.add(
        ctx, tx, arrival, msg=msg, outcome=Outcome.DUPLICATE, reason="", hits=hits, intent=intent
    )
    for event_id in event_ids:
        event = ctx.events[event_id]
        existing = tx.existing(event_id, normalized)
        registration_id = None
        if intent is Intent.CANCEL:
            row = tx.active_row(event_id, normalized) if existing is not None else None
            proven = row is not None and tx.answers_our_mail_to(references, row)
            decision = booking.cancel(existing, proven=proven)
            if decision.reply is ReplyStatus.CONFIRM_CANCEL and row is not None:
                found.append(Outcome.CANCEL_REQUESTED)
                reasons.append(_ask_to_confirm(ctx, tx, event, row, ledger_id, now))
                continue  # nothing changes, and the sender (maybe not the owner) gets no mail
            # Outcomes, not intents: "Abmeldung" from someone without a registration cancelled nothing.
            found.append(Outcome.CANCELLED if decision.status is not None else Outcome.NOT_REGISTERED)
            if decision.reply is ReplyStatus.CANCELLED:
                assert row is not None
                registration_id = tx.cancel_row(row, now, actor)
        elif intent is Intent.STATUS:
            decision = booking.status(existing)
            found.append(Outcome.STATUS if decision.status is not None else Outcome.NOT_REGISTERED)
        elif refused := booking.outside_window(event, existing, arrival.internaldate):
            decision = refused
            found.append(Outcome.OUTSIDE_WINDOW)
        else:
            decision = booking.decide(event, tx.counts(event_id), existing)
            found.append(Outcome.REGISTERED if decision.new_registration else Outcome.DUPLICATE)
            if decision.new_registration:
                assert decision.status is not None
                registration_id = tx.add_registration(
                    event_id=event_id,
                    position=decision.position,
                    status=decision.status,
                    name=sender.name,
                    email=sender.address,
                    email_normalized=normalized,
                    channel=Channel.EMAIL.value,
                    received_at=arrival.internaldate,
                    ledger_id=ledger_id,
                    message_id=msg.message_id,
                    now=now,
                    actor=actor,
                )
        sent = _queue_reply(
            ctx,
            tx,
            msg=msg,
            recipient=sender,
            normalized=normalized,
            event_id=event_id,
            decision=decision,
            registration_id=registration_id,
            ledger_id=ledger_id,
            now=now,
        )
        reasons.append(f"{event_id}: {decision.reply.value}{sent}")
        if intent is Intent.CANCEL:
            reasons += registrations.promote(ctx, tx, event, now)
    outcome = min(found, key=_OUTCOME_RANK.index)
    if arrival.late:
        reasons.append(arrival.late)
    tx.set_ledger_outcome(ledger_id, outcome.value, "; ".join(reasons))
    log.info("uid %s from %s: %s", arrival.uid, mask_address(sender.address), "; ".join(reasons))
    return outcome


def _ask_to_confirm(
    ctx: Context, tx: UnitOfWork, event: Event, row: Registration, ledger_id: int, now: datetime
) -> str:
    """Ask the registered address to confirm a cancellation by replying; returns the ledger's note.

    The request goes to the address the registration was made with, never to the mail's sender (anyone
    can write any From:), is a new mail with our own subject (not threaded to a mail a stranger wrote,
    so the stranger's words reach nobody), and goes at most once a day per registration (a forger
    sending many mails must not flood the owner).
    """
    if tx.confirmation_requested(row.id, now - REPLY_LIMIT_WINDOW):
        return f"{event.id}: confirm-cancel already requested today (not again)"
    decision = Decision(
        reply=ReplyStatus.CONFIRM_CANCEL,
        status=Status(row.status),
        new_registration=False,
        position=row.position,
    )
    mailings.compose(
        ctx,
        tx,
        event=event,
        decision=decision,
        recipient=Address(row.name, row.email or ""),
        registration_id=row.id,
        ledger_id=ledger_id,
        now=now,
        normalized=row.email_normalized,
        subject=mailings.subject_of(ctx, event, decision),
    )
    return f"{event.id}: confirm-cancel asked of the registered address {mask_address(row.email)}"


def _queue_reply(
    ctx: Context,
    tx: UnitOfWork,
    *,
    msg: InboundMessage,
    recipient: Address,
    normalized: str,
    event_id: str,
    decision: Decision,
    registration_id: int | None,
    ledger_id: int,
    now: datetime,
) -> str:
    """Queue the reply, within the per-address daily limit; returns a note for the ledger ('' if sent).

    Past the limit, one last notice goes out, then nothing until the day has passed (no storms).
    """
    since = now - REPLY_LIMIT_WINDOW
    limit = ctx.config.bot.max_replies_per_address_per_day
    note = ""
    replies, notices = tx.replies_to(normalized, since)
    if replies >= limit:
        if notices:
            return " (reply suppressed: daily limit)"
        decision = Decision(reply=ReplyStatus.LIMIT, status=None, new_registration=False, position=0)
        note = " (limit notice instead of the reply)"
    mailings.compose(
        ctx,
        tx,
        event=ctx.events[event_id],
        decision=decision,
        recipient=recipient,
        registration_id=registration_id,
        ledger_id=ledger_id,
        now=now,
        normalized=normalized,
        original_subject=msg.subject,
        original_message_id=msg.message_id,
        original_references=msg.references,
    )
    return note
