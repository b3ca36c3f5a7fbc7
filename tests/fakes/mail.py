"""An in-memory mailbox and mailer: the Mailbox and Mailer ports without servers."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage

from mailbot.ports import DeliveryResult, MailboxInfo, MessageMeta, OutgoingMail


@dataclass
class FakeFolder:
    """One IMAP folder's messages by UID, with their INTERNALDATE and the keywords set on them."""

    messages: dict[int, tuple[bytes, datetime]] = field(default_factory=dict)
    keywords: dict[int, set[str]] = field(default_factory=dict)
    moved: dict[int, str] = field(default_factory=dict)

    def deliver(self, raw: bytes, internaldate: datetime) -> int:
        """A new message at the next UID."""
        uid = max(self.messages, default=0) + 1
        self.messages[uid] = (raw, internaldate)
        return uid


class FakeMailbox:
    """The Mailbox port over a FakeFolder (UIDVALIDITY 1, keywords allowed)."""

    def __init__(self, folder: FakeFolder) -> None:
        self.folder = folder

    def select(self, folder: str) -> MailboxInfo:
        """Open the folder."""
        return MailboxInfo(folder=folder, uidvalidity=1, keywords_allowed=True)

    def list_uids(self) -> list[int]:
        """All UIDs."""
        return sorted(self.folder.messages)

    def fetch_meta(self, uids: Sequence[int]) -> list[MessageMeta]:
        """INTERNALDATE and size."""
        return [
            MessageMeta(uid=u, internaldate=self.folder.messages[u][1], size=len(self.folder.messages[u][0]))
            for u in uids
            if u in self.folder.messages
        ]

    def fetch_bodies(self, uids: Sequence[int]) -> dict[int, bytes]:
        """The raw messages."""
        return {u: self.folder.messages[u][0] for u in uids if u in self.folder.messages}

    def mark(self, uids: Sequence[int], keyword: str) -> None:
        """Add a keyword."""
        for uid in uids:
            self.folder.keywords.setdefault(uid, set()).add(keyword)

    def move(self, uids: Sequence[int], folder: str) -> None:
        """Move away."""
        for uid in uids:
            self.folder.moved[uid] = folder
            self.folder.messages.pop(uid, None)

    def close(self) -> None:
        """Nothing to log out of."""


@dataclass
class FakeMailer:
    """The Mailer port: accepts every mail and keeps it."""

    sent: list[OutgoingMail] = field(default_factory=list)

    def send_all(self, mails: Sequence[OutgoingMail], report: Callable[[DeliveryResult], None]) -> None:
        """Accept each mail."""
        for mail in mails:
            self.sent.append(mail)
            report(DeliveryResult(outbox_id=mail.outbox_id, accepted=True))

    def messages(self) -> list[EmailMessage]:
        """The sent mails, parsed."""
        return [
            email.message_from_bytes(m.data, _class=EmailMessage, policy=email.policy.default)
            for m in self.sent
        ]

    def statuses(self) -> list[tuple[str, str]]:
        """(recipient, X-Mailbot-Status) of each sent mail, in order."""
        return [
            (m.recipient, str(msg["X-Mailbot-Status"]))
            for m, msg in zip(self.sent, self.messages(), strict=True)
        ]
