"""The ledger row of a mail: its verdict, reason and rule hits (the processed-message record)."""

from __future__ import annotations

from collections.abc import Sequence

from mailbot.core.model import Arrival, InboundMessage, Intent, Outcome
from mailbot.ports.store import UnitOfWork
from mailbot.service.context import Context


def record(
    ctx: Context,
    tx: UnitOfWork,
    arrival: Arrival,
    msg: InboundMessage | None,
    outcome: Outcome,
    reason: str,
    *,
    hits: Sequence[tuple[str, str]] = (),
) -> None:
    """A verdict that needs no booking: the ledger row alone."""
    add(ctx, tx, arrival, msg=msg, outcome=outcome, reason=reason, hits=hits)


def add(
    ctx: Context,
    tx: UnitOfWork,
    arrival: Arrival,
    *,
    msg: InboundMessage | None,
    outcome: Outcome,
    reason: str,
    hits: Sequence[tuple[str, str]],
    intent: Intent | None = None,
) -> int:
    if arrival.late:
        reason = f"{reason}; {arrival.late}" if reason else arrival.late
    return tx.add_ledger(
        intent=intent.value if intent else None,
        content_hash=arrival.content_hash,
        decoded_hash=msg.decoded_hash if msg else None,
        folder=arrival.folder,
        uidvalidity=arrival.uidvalidity,
        uid=arrival.uid,
        message_id=msg.message_id if msg else None,
        internaldate=arrival.internaldate,
        size=arrival.size,
        outcome=outcome.value,
        reason=reason,
        rule_hits=hits,
        sender=msg.sender.address if msg and msg.sender else None,
        subject=msg.subject[:500] if msg else None,
        now=ctx.clock(),
    )
