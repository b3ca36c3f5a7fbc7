"""The ports: small Protocols the service talks to; adapters implement them, tests may fake them."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class MailboxInfo:
    """The selected folder: its UIDVALIDITY and whether it accepts our keyword."""

    folder: str
    uidvalidity: int
    keywords_allowed: bool


@dataclass(frozen=True, slots=True)
class MessageMeta:
    """A message's UID with the server's INTERNALDATE (aware) and its size in bytes (one per mail of the
    folder is held for a whole pass: slots keep 50,000 of them small)."""

    uid: int
    internaldate: datetime
    size: int


@dataclass(frozen=True)
class OutgoingMail:
    """One reply ready for SMTP: one recipient, the rendered bytes."""

    outbox_id: int
    envelope_from: str
    recipient: str
    data: bytes


@dataclass(frozen=True)
class DeliveryResult:
    """What the SMTP server said about one mail: accepted, or refused temporarily/permanently."""

    outbox_id: int
    accepted: bool
    permanent: bool = False
    error: str = ""
    throttled: bool = False  # a temporary answer asking to slow down (core/pacing.py): no fault of the mail


class Mailbox(Protocol):
    """An IMAP folder read without changing what staff see (BODY.PEEK[], no \\Seen)."""

    def select(self, folder: str) -> MailboxInfo:
        """Open the folder for the pass."""

    def list_uids(self) -> list[int]:
        """All UIDs in the selected folder."""

    def fetch_meta(self, uids: Sequence[int]) -> list[MessageMeta]:
        """INTERNALDATE and size for these UIDs."""

    def fetch_bodies(self, uids: Sequence[int]) -> dict[int, bytes]:
        """The raw messages (BODY.PEEK[]) for these UIDs."""

    def mark(self, uids: Sequence[int], keyword: str) -> None:
        """Add a keyword flag to these messages."""

    def move(self, uids: Sequence[int], folder: str) -> None:
        """Move these messages to another folder (created if missing)."""

    def close(self) -> None:
        """Log out."""


class Mailer(Protocol):
    """Sends replies over one persistent SMTP connection per batch."""

    def send_all(self, mails: Sequence[OutgoingMail], report: Callable[[DeliveryResult], None]) -> None:
        """Send each mail; `report` is called right after the server answers each one."""


MailboxFactory = Callable[[], Mailbox]
Clock = Callable[[], datetime]
IdFactory = Callable[[], str]


def batched(items: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    """Consecutive slices of at most `size` items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def batched_by_bytes(
    metas: Sequence[MessageMeta], count: int, budget: int, limit: int
) -> Iterator[Sequence[MessageMeta]]:
    """Consecutive slices of at most `count` mails whose bodies add up to at most `budget` bytes.

    A mail larger than `limit` (max_message_bytes) is not fetched and weighs nothing; a mail larger than
    the budget forms a batch of its own, so every mail is read.
    """
    start, total = 0, 0
    for end, meta in enumerate(metas):
        size = meta.size if meta.size <= limit else 0
        if end > start and (end - start >= count or total + size > budget):
            yield metas[start:end]
            start, total = end, 0
        total += size
    if start < len(metas):
        yield metas[start:]
