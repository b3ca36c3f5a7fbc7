"""The per-message boundary: one mail decided in its savepoint; its own failure quarantines it alone."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta

from mailbot.core import authentication, chain, unanswered
from mailbot.core.faults import environment_fault
from mailbot.core.model import Address, Arrival, InboundMessage, Outcome
from mailbot.core.parse import MessageParseError
from mailbot.errors import EnvironmentFault
from mailbot.ports.store import BufferedWriteError, DuplicateMessageError, UnitOfWork
from mailbot.redact import describe_error, mask_address, mask_addresses
from mailbot.service import intents, ledger, readahead
from mailbot.service.context import Context
from mailbot.service.readahead import ReadAhead
from mailbot.service.recognition import Known

log = logging.getLogger("mailbot")

# A bounce naming none of our Message-IDs matches a reply to a failed recipient only if sent this recently.
BOUNCE_MATCH_WINDOW = timedelta(days=3)


def refusal(address: str | None, reason: str) -> str:
    """Why a sender address was refused, for the ledger and the log (the address masked)."""
    if not address:
        return "no sender address (no From header, or none that can be read)"
    return f"sender address {mask_address(address)} refused: {reason}"


def process_safely(
    ctx: Context, tx: UnitOfWork, arrival: Arrival, raw: bytes | None, read: ReadAhead
) -> Outcome | None:
    """The per-message boundary: a failure of the mail's own rolls back and quarantines this one message.

    A failure of the environment (database, disk, network, memory: see core/faults.py) is no verdict on the
    mail: it ends the pass, the batch's transaction rolls back, and the next pass takes the same mails in
    the same order (invariant 7 in docs/ARCHITECTURE.md).
    """
    parsed: list[InboundMessage] = []  # filled by _process once parsed, so quarantine keeps its identity
    try:
        with tx.savepoint():
            return _process(ctx, tx, arrival, raw, parsed, read)
    except DuplicateMessageError:
        return None  # another process recorded it first
    except BufferedWriteError:
        raise  # the batch's transaction is void, not this message (see intake._process_batch)
    except Exception as exc:  # the loop must never die on one message (docs/ARCHITECTURE.md, invariant 7)
        if (fault := environment_fault(exc)) is not None:
            raise EnvironmentFault(
                f"{fault}: mail uid {arrival.uid} is not decided, the next pass tries it again"
            ) from exc
        reason = mask_addresses(describe_error(exc))[:500]
        try:
            with tx.savepoint():
                ledger.record(ctx, tx, arrival, parsed[0] if parsed else None, Outcome.QUARANTINED, reason)
        except DuplicateMessageError:
            return None
        except Exception as again:
            if (fault := environment_fault(again)) is not None:  # the record itself met the environment
                raise EnvironmentFault(
                    f"{fault}: mail uid {arrival.uid} is not decided, the next pass tries it again"
                ) from again
            raise
        log.warning("uid %s quarantined: %s", arrival.uid, reason)
        return Outcome.QUARANTINED


def _process(
    ctx: Context,
    tx: UnitOfWork,
    arrival: Arrival,
    raw: bytes | None,
    parsed: list[InboundMessage],
    read: ReadAhead,
) -> Outcome:
    if raw is None:
        reason = f"{arrival.size} bytes > max_message_bytes {ctx.config.bot.max_message_bytes}"
        ledger.record(ctx, tx, arrival, None, Outcome.TOO_LARGE, reason)
        log.warning("uid %s too large, left for staff: %s", arrival.uid, reason)
        return Outcome.TOO_LARGE
    msg = read.parsed.get(arrival.uid) or MessageParseError("not read")
    if isinstance(msg, MessageParseError):
        ledger.record(ctx, tx, arrival, None, Outcome.QUARANTINED, str(msg))
        log.warning("uid %s quarantined: %s", arrival.uid, msg)
        return Outcome.QUARANTINED
    if isinstance(msg, Exception):
        raise msg  # an unexpected parser failure: quarantined by the boundary, like any other
    parsed.append(msg)
    if _seen_before(ctx, tx, arrival, msg, read.known):
        return Outcome.ALREADY_PROCESSED
    return _handle(ctx, tx, arrival, raw, msg, read)


def _seen_before(ctx: Context, tx: UnitOfWork, arrival: Arrival, msg: InboundMessage, known: Known) -> bool:
    """Same mail, other identity: folder recreated or restored (new UIDVALIDITY, maybe re-encoded
    bodies) or moved back (new UID)? See recognition.Known: by content, so it survives the erasure of
    personal data, which clears the stored Message-ID."""
    where = known.first(arrival, msg)
    if where is None:
        return False
    reason = f"same mail as {where[0]} uid {where[2]} (uidvalidity {where[1]})"
    ledger.record(ctx, tx, arrival, msg, Outcome.ALREADY_PROCESSED, reason)
    return True


def _handle(
    ctx: Context, tx: UnitOfWork, arrival: Arrival, raw: bytes, msg: InboundMessage, read: ReadAhead
) -> Outcome:
    """Classify a parsed message and act on it: machine, not our business, rejected, or an intent."""
    verdict = chain.classify(msg, ctx.rule_context, ctx.keywords)
    hits = tuple((h.rule, h.reason) for h in verdict.hits)
    if verdict.machine is not None:
        return _machine(ctx, tx, arrival, raw, msg, read, reason=verdict.machine.reason, hits=hits)
    if (
        verdict.intent is not None
        and read.bounces.get(arrival.uid)  # screened before the transaction (see readahead._read_bounces)
    ):
        # A bounce with none of the usual marks, recognised by its body (flufl.bounce): never answer it.
        return _machine(
            ctx, tx, arrival, raw, msg, read, reason="non-standard bounce (flufl.bounce)", hits=hits
        )
    event_ids = verdict.event_ids
    if not event_ids and verdict.our_references and verdict.intent is not None:
        # "Abmeldung" in a reply to our mail: the event it was about
        event_ids = tuple(e for e in tx.events_of_replies(verdict.our_references) if e in ctx.events)
    if verdict.intent is None or not event_ids:
        why = unanswered.why_not_registration(verdict, msg, ctx.keywords.patterns)
        ledger.record(ctx, tx, arrival, msg, Outcome.NOT_REGISTRATION, why, hits=hits)
        return Outcome.NOT_REGISTRATION
    if ctx.config.bot.require_authenticated_sender:
        trusted, why = authentication.authenticated(msg, ctx.config.bot.authserv_id)
        if not trusted:
            ledger.record(ctx, tx, arrival, msg, Outcome.HELD, f"held for staff: {why}", hits=hits)
            log.info("uid %s held for staff (sender not authenticated): %s", arrival.uid, why)
            return Outcome.HELD
    checked = ctx.addresses.check(msg.sender.address) if msg.sender else None
    normalized = checked.normalized if checked else None
    if msg.sender is None or checked is None or normalized is None:
        why = refusal(msg.sender.address if msg.sender else None, checked.reason if checked else "")
        ledger.record(ctx, tx, arrival, msg, Outcome.REJECTED, why, hits=hits)
        log.warning("uid %s keyword mail not answered: %s", arrival.uid, why)
        return Outcome.REJECTED
    sender = Address(msg.sender.name, msg.sender.address)
    return intents.act(
        ctx,
        tx,
        arrival,
        msg=msg,
        intent=verdict.intent,
        event_ids=event_ids,
        sender=sender,
        normalized=normalized,
        hits=hits,
        references=verdict.our_references,
    )


def _machine(
    ctx: Context,
    tx: UnitOfWork,
    arrival: Arrival,
    raw: bytes,
    msg: InboundMessage,
    read: ReadAhead,
    *,
    reason: str,
    hits: Sequence[tuple[str, str]],
) -> Outcome:
    """Never answered (RFC 3834); a bounce of one of our replies marks that reply undeliverable."""
    report = readahead.bounce_of(ctx, arrival, raw, read)
    if report is not None and report.permanent:
        recent = ctx.clock() - BOUNCE_MATCH_WINDOW
        normalize = ctx.addresses.normalize
        failed = [normalize(r) or r for r in report.failed_recipients]  # A-labels or U-labels
        outbox_id = tx.find_reply(report.our_message_ids, failed, recent)
        if outbox_id is not None:
            recipient = tx.mark_bounced(outbox_id, ctx.clock())
            why = f"bounce of our reply to {mask_address(recipient)}: {mask_addresses(report.diagnostic)}"[
                :500
            ]
            ledger.add(ctx, tx, arrival, msg=msg, outcome=Outcome.BOUNCE, reason=why, hits=hits)
            log.warning("uid %s %s", arrival.uid, why)
            return Outcome.BOUNCE
    ledger.record(ctx, tx, arrival, msg, Outcome.MACHINE, reason, hits=hits)
    log.info("uid %s not answered (machine): %s", arrival.uid, reason)
    return Outcome.MACHINE
