"""The ports: small Protocols the service talks to; adapters implement them, tests may fake them."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from mailbot.core.staff import SecurityEvent, StaffAccount, StaffSession
from mailbot.ports.store import BufferedWriteError, DuplicateMessageError, Store, UnitOfWork


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


class SentRecord(Protocol):
    """Where a sending process records the replies the SMTP server accepted, folded into the store later."""

    def append(self, outbox_id: int, when: datetime) -> None:
        """Record one accepted reply."""
        ...

    def entries(self) -> list[tuple[int, datetime]]:
        """Every reply recorded and not folded yet, oldest first."""
        ...

    def clear(self) -> None:
        """Forget the entries once the store holds them."""
        ...


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


class StaffStore(Protocol):
    """Staff accounts, console sessions and the security log (adapters/db/staff.py)."""

    def account(self, name: str) -> StaffAccount | None:
        """The account of this name (exact), or None."""

    def accounts(self) -> list[StaffAccount]:
        """Every account, by name."""

    def add_account(self, account: StaffAccount) -> bool:
        """Store a new account; False when the name is taken."""

    def update_account(self, account: StaffAccount) -> bool:
        """Replace the stored account of `account.name`; False when there is none."""

    def remove_account(self, name: str) -> bool:
        """Delete the account, its sessions and recovery codes; False when there is none."""

    def replace_recovery_codes(self, name: str, hashes: Sequence[str]) -> None:
        """The account's recovery codes are these (hashed) from now on; the old ones are void."""

    def use_recovery_code(self, name: str, code_hash: str) -> bool:
        """Spend one unused recovery code; False when it doesn't exist or was used."""

    def recovery_codes_left(self, name: str) -> int:
        """How many unused recovery codes the account has."""

    def claim_totp_step(self, name: str, step: int) -> bool:
        """Record a used TOTP time step; False if this or a later step was used (replay)."""

    def add_session(self, session: StaffSession) -> None:
        """Store a new session."""

    def session(self, key: str) -> StaffSession | None:
        """The session with this key (hash of the cookie), or None."""

    def sessions(self) -> list[StaffSession]:
        """Every stored session, newest first."""

    def update_session(self, session: StaffSession) -> None:
        """Replace the stored session of `session.key` (last seen, second factor passed)."""

    def end_session(self, key: str) -> None:
        """Delete one session (logout, expiry)."""

    def end_sessions(self, name: str, keep: str | None = None) -> int:
        """Delete the sessions of `name` except `keep`; how many ended."""

    def end_stale_sessions(self, created_before: datetime, seen_before: datetime) -> int:
        """Delete the sessions created before the one or last seen before the other; how many ended."""

    def log(self, event: SecurityEvent) -> None:
        """Append to the security log."""

    def security_log(self, limit: int) -> list[SecurityEvent]:
        """The newest `limit` security events, newest first."""

    def count_events(
        self, kind: str, since: datetime, *, name: str | None = None, client: str | None = None
    ) -> int:
        """How many events of `kind` since `since`, for this name and/or client."""


class Credentials(Protocol):
    """Password hashing, one-time codes and random tokens (adapters/credentials.py)."""

    def hash_password(self, password: str) -> str:
        """A salted slow hash of the password."""

    def verify_password(self, password_hash: str | None, password: str) -> bool:
        """Whether it matches; None (no password) takes as long and fails."""

    def new_token(self) -> str:
        """A random token (session cookie, CSRF, form)."""

    def token_hash(self, token: str) -> str:
        """How a random token is stored."""

    def new_totp_secret(self) -> str:
        """A new TOTP secret (base32)."""

    def totp_uri(self, secret: str, name: str, issuer: str) -> str:
        """The otpauth:// URI of a secret."""

    def totp_step(self, secret: str, code: str, now: datetime) -> int | None:
        """The time step a TOTP code belongs to, or None when it is wrong."""

    def new_recovery_codes(self, count: int = 10) -> list[str]:
        """New single-use recovery codes."""

    def normal_recovery_code(self, code: str) -> str:
        """A typed recovery code in its stored form (before hashing)."""


__all__ = [
    "BufferedWriteError",
    "Clock",
    "Credentials",
    "DeliveryResult",
    "DuplicateMessageError",
    "IdFactory",
    "Mailbox",
    "MailboxFactory",
    "MailboxInfo",
    "Mailer",
    "MessageMeta",
    "OutgoingMail",
    "SentRecord",
    "StaffStore",
    "Store",
    "UnitOfWork",
    "batched",
    "batched_by_bytes",
]
