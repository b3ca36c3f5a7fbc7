"""Pacing of replies: at most `[smtp] max_per_minute`, in order, slower after a server's throttling answer."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

MAX_INTERVAL = 300.0  # seconds between two mails at the slowest, however often the server throttles
FIRST_THROTTLE_INTERVAL = 1.0  # seconds: an unpaced desk throttled by its server goes on at 60 per minute
RECOVERY = 0.95  # each accepted mail after a throttle shortens the interval by 5 % toward the configured one
UNPACED_BELOW = 0.01  # seconds: an unpaced desk that recovered this far is unpaced again

# A temporary answer asking us to slow down: the enhanced status codes (RFC 3463) 4.7.x (security or policy,
# e.g. Exchange Online's "421 4.7.0 ... throttled", "450 4.7.1 ... try again later") and 4.3.2 (system not
# accepting network messages, Exchange's "432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded"),
# or the basic code 432 without an enhanced one. Any other 4xx is a temporary failure of that mail.
_THROTTLING = re.compile(r"4\d\d[ -]4\.(?:7\.\d{1,3}|3\.2)\b|432\b")


def is_throttling(error: str) -> bool:
    """Whether an SMTP answer (as "CODE text", e.g. "432 4.3.2 ...") asks us to send more slowly."""
    return _THROTTLING.match(error.strip()) is not None


@dataclass
class Pacer:
    """When each next reply may start: `per_minute` evenly spaced (0: unpaced), slower after a throttle.

    Times are seconds of a monotonic clock, passed in. Mails take their slot in the order they ask, so they
    start in the order they were queued. `deadline` bounds how long one flush may wait for slots (the rest
    waits for the next flush, so a pass stays as short as its schedule).
    """

    per_minute: int
    interval: float = field(init=False)  # seconds between two starts now; 0: unpaced
    next_start: float = 0.0
    deadline: float = math.inf

    def __post_init__(self) -> None:
        self.interval = self.base

    @property
    def base(self) -> float:
        """The configured interval in seconds (0: unpaced)."""
        return 60.0 / self.per_minute if self.per_minute else 0.0

    @property
    def rate(self) -> float:
        """The pace now, in mails per minute (0: unpaced)."""
        return 60.0 / self.interval if self.interval else 0.0

    def slot(self, now: float) -> float | None:
        """When the next mail may start (`now` or later), reserved for it; None if it must wait past the
        deadline."""
        start = max(now, self.next_start)
        if start > now and start > self.deadline:  # a mail that may start right now always may
            return None
        self.next_start = start + self.interval
        return start

    def throttled(self, now: float) -> None:
        """The server asked us to slow down: half the pace (at most MAX_INTERVAL apart), and a pause first."""
        self.interval = min(MAX_INTERVAL, max(2 * self.interval, self.base, FIRST_THROTTLE_INTERVAL))
        self.next_start = max(self.next_start, now + self.interval)

    def accepted(self) -> None:
        """The server took a mail: after a throttle the pace recovers step by step to the configured one."""
        if self.interval > self.base:
            self.interval = max(self.base, self.interval * RECOVERY)
            if self.base == 0 and self.interval < UNPACED_BELOW:
                self.interval = 0.0

    def seconds_for(self, replies: int) -> float:
        """About how long `replies` more replies take at the pace now (0 when unpaced)."""
        return replies * self.interval
