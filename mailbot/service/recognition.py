"""A mail processed before under another IMAP identity: moved back, restored, or restored re-encoded."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from mailbot.core.model import Arrival, InboundMessage
from mailbot.ports.store import UnitOfWork

Where = tuple[str, int, int]  # folder, UIDVALIDITY, UID of the first mail recorded with an identity


@dataclass
class Known:
    """The identities of a batch's mails already in the ledger, and where the first mail with each was.

    A mail is known by its content hash (raw body and identifying headers), by its decoded hash (the same
    headers decoded, every part's content decoded: it survives a restore that re-encodes bodies, 8bit ->
    quoted-printable), or, for ledger rows recorded before decoded hashes existed, by its Message-ID together
    with the stored sender and subject (such a row has no decoded hash to compare with).
    """

    by_hash: dict[str, Where] = field(default_factory=dict)  # content or decoded hash -> where
    by_message_id: dict[str, tuple[str, int, int, str, str]] = field(default_factory=dict)

    @classmethod
    def load(
        cls, tx: UnitOfWork, hashes: Mapping[int, str], parsed: Mapping[int, InboundMessage | Exception]
    ) -> Known:
        """What the ledger knows of the batch's mails (three queries at most)."""
        messages = [m for m in parsed.values() if isinstance(m, InboundMessage)]
        decoded = [m.decoded_hash for m in messages if m.decoded_hash]
        message_ids = [m.message_id for m in messages if m.message_id]
        return cls(
            by_hash=tx.first_by_hash(list(hashes.values()), decoded),
            by_message_id=tx.first_by_message_id(message_ids),
        )

    def first(self, arrival: Arrival, msg: InboundMessage) -> Where | None:
        """Where the same mail was recorded first, when that was another folder, UIDVALIDITY or UID."""
        here = (arrival.folder, arrival.uidvalidity, arrival.uid)
        for key in (arrival.content_hash, msg.decoded_hash):
            where = self.by_hash.get(key) if key else None
            if where is not None and where != here:
                return where
        legacy = self.by_message_id.get(msg.message_id) if msg.message_id else None
        if legacy is not None and legacy[:3] != here:
            folder, uidvalidity, uid, sender, subject = legacy
            if sender == (msg.sender.address if msg.sender else "") and subject == msg.subject[:500]:
                return folder, uidvalidity, uid
        return None

    def add(self, arrival: Arrival, msg: InboundMessage | None) -> None:
        """A mail of the batch is recorded: a later copy in the same batch is known by it."""
        where = (arrival.folder, arrival.uidvalidity, arrival.uid)
        for key in (arrival.content_hash, msg.decoded_hash if msg else None):
            if key:
                self.by_hash.setdefault(key, where)
