"""What is read for a whole batch before its transaction: bodies, content hashes, parses, bounce readings."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mailbot.core import bounce
from mailbot.core.identity import content_hash
from mailbot.core.model import Arrival, InboundMessage
from mailbot.core.parse import parse_message
from mailbot.ports import Mailbox, MessageMeta
from mailbot.service.context import Context
from mailbot.service.recognition import Known

if TYPE_CHECKING:
    from mailbot.core.bounce import BounceReport


def read_batch(ctx: Context, mailbox: Mailbox, batch: Sequence[MessageMeta]) -> ReadAhead:
    """The batch's bodies (those within max_message_bytes), their content hashes, their parses and the
    bounce readings of those that look like bounces (see _read_bounces)."""
    limit = ctx.config.bot.max_message_bytes
    bodies = mailbox.fetch_bodies([m.uid for m in batch if m.size <= limit])
    hashes = {uid: content_hash(raw) for uid, raw in bodies.items() if raw}
    parsed = dict(_parse_all(bodies))
    bounces = _read_bounces(ctx, bodies, parsed)
    return ReadAhead(bodies=bodies, hashes=hashes, parsed=parsed, known=Known(), bounces=bounces)


def _read_bounces(
    ctx: Context, bodies: Mapping[int, bytes], parsed: Mapping[int, InboundMessage | Exception]
) -> dict[int, BounceReport | None]:
    """The bounce readings of the batch's mails whose headers look like a bounce's, read before the
    batch's transaction: the email parser and flufl.bounce take about a second per MB of such a mail,
    which inside the transaction would keep SQLite's write lock from admin commands."""
    if ctx.read_bounce is None:
        return {}
    readings: dict[int, BounceReport | None] = {}
    for uid, msg in parsed.items():
        if isinstance(msg, InboundMessage) and bounce.may_be_bounce(msg):
            readings[uid] = ctx.read_bounce(bodies[uid], ctx.rule_context)
    return readings


def bounce_of(ctx: Context, arrival: Arrival, raw: bytes, read: ReadAhead) -> BounceReport | None:
    """The mail's bounce reading: read ahead (see _read_bounces), else now."""
    if arrival.uid in read.bounces:
        return read.bounces[arrival.uid]
    return ctx.read_bounce(raw, ctx.rule_context) if ctx.read_bounce is not None else None


@dataclass
class ReadAhead:
    """What is read for a whole batch before its transaction decides mail by mail."""

    bodies: dict[int, bytes]  # by UID: the raw mail (those within max_message_bytes)
    hashes: dict[int, str]  # by UID: the content hash (core/identity.py)
    parsed: dict[int, InboundMessage | Exception]  # by UID: the parsed mail, or why it could not be
    known: Known  # the batch's mails the ledger knows by another identity (recognition.py)
    # By UID, the reading of each parsed mail whose headers look like a bounce's; a mail without an entry
    # doesn't (every parsed mail is screened, see _read_bounces).
    bounces: dict[int, BounceReport | None] = field(default_factory=dict)

    def release(self, uid: int) -> None:
        """Let go of a decided mail's body and parse (a batch of 9 MB mails must not pile up in memory)."""
        self.bodies.pop(uid, None)
        self.parsed.pop(uid, None)
        self.bounces.pop(uid, None)

    def senders(self, normalize: Callable[[str], str | None]) -> list[str]:
        """The sender addresses of the batch's parsed mails, normalised by `normalize` (the desk's)."""
        found = []
        for msg in self.parsed.values():
            if isinstance(msg, InboundMessage) and msg.sender is not None:
                try:
                    address = normalize(msg.sender.address)
                except Exception:  # noqa: BLE001, S112 (only a read-ahead: the mail's own turn reports it)
                    continue
                if address:
                    found.append(address)
        return found


def _parse_all(bodies: Mapping[int, bytes]) -> Iterator[tuple[int, InboundMessage | Exception]]:
    """Parse every body of a batch; a failure is kept as the mail's result (never raised here)."""
    for uid, raw in bodies.items():
        try:
            yield uid, parse_message(raw)
        except Exception as exc:  # noqa: BLE001 (each mail's failure is its own: quarantined in its turn)
            yield uid, exc
