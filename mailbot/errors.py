"""The exceptions of mailbot: one base class, config errors naming the key, delivery and mailbox trouble."""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "EnvironmentFault",
    "MailbotError",
    "MailboxUnavailableError",
    "PermanentDeliveryError",
    "TemporaryDeliveryError",
]


class MailbotError(Exception):
    """Base class of every error mailbot raises on purpose."""


class ConfigError(MailbotError):
    """The configuration is missing, unreadable or invalid; the message names the file and the key."""

    path: str  # the file as the user gave it
    key: str  # e.g. "[smtp] sender", "[[events]] #2 keyword", "[foo]", or "file"
    problem: str  # what is wrong, e.g. "missing", "must be an integer"

    def __init__(self, path: str, key: str, problem: str) -> None:
        super().__init__(path, key, problem)
        self.path = path
        self.key = key
        self.problem = problem

    def __str__(self) -> str:
        return f"{self.path}: {self.key}: {self.problem}"


class TemporaryDeliveryError(MailbotError):
    """Sending failed for now (SMTP 4xx, connection trouble): keep the reply in the outbox and retry later."""


class PermanentDeliveryError(MailbotError):
    """Sending was refused for good (SMTP 5xx): retrying will never succeed."""


class MailboxUnavailableError(MailbotError):
    """The IMAP server cannot be reached or refused the login."""


class EnvironmentFault(MailbotError):
    """The database, disk, network or memory failed: no verdict on a mail; the pass ends, it is retried."""
