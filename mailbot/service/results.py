"""What the use-cases return: the report of a pass, of an outbox flush, of an admin registration."""

from __future__ import annotations

from dataclasses import dataclass, field

from mailbot.core.model import Decision, Outcome


@dataclass
class PassReport:
    """What one pass did, by outcome."""

    outcomes: dict[str, int] = field(default_factory=dict)
    stopped_early: bool = False
    skipped: bool = False  # another process held the leader lock

    def count(self, outcome: Outcome) -> None:
        """Count one message under its outcome."""
        self.outcomes[outcome.value] = self.outcomes.get(outcome.value, 0) + 1

    @property
    def total(self) -> int:
        """Messages handled in the pass."""
        return sum(self.outcomes.values())


@dataclass
class FlushReport:
    """What one outbox flush did."""

    sent: int = 0
    failed: int = 0
    deferred: int = 0
    error: str = ""
    paused: bool = False  # a breaker holds sending: the hourly reply limit, or a storm (core/storm.py)
    throttled: int = 0  # throttling answers ("432 4.3.2"): the pace slowed, the reply goes again

    @property
    def stopped(self) -> bool:
        """Sending stops for the rest of the pass: SMTP trouble, or the hourly limit."""
        return bool(self.error or self.paused)

    def add(self, other: FlushReport) -> None:
        """Count another flush of the same pass in."""
        self.sent += other.sent
        self.failed += other.failed
        self.deferred += other.deferred
        self.error = self.error or other.error
        self.paused = self.paused or other.paused
        self.throttled += other.throttled


@dataclass(frozen=True)
class AdminRegistration:
    """What `admin_register` did: the decision, the registration (new, or the one already held), the mail."""

    decision: Decision
    registration_id: int | None  # None: a duplicate found by phone or address always names its registration
    name: str  # the registration's name (a duplicate: the name it was recorded with)
    mailed: bool = False  # a mail to the person was queued
    warning: str = ""  # recorded, but staff should know (e.g. after the event's start)
