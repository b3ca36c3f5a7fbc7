"""The time a staff entry is received at: no back-dating, no future, a word after the event's start."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo

from mailbot.core.model import Event


@dataclass(frozen=True)
class Received:
    """The time a staff entry is recorded with, and what staff must be told about it."""

    at: datetime
    refusal: str = ""  # not recorded: why, in one line
    warning: str = ""  # recorded, but staff should know (one line)


def received(
    event: Event, given: datetime | None, *, now: datetime, last: datetime | None, tz: tzinfo
) -> Received:
    """Check the arrival time of a hotline or admin registration (`given`; None: it arrives now).

    - A given time in the future is refused: it would rank every later entry before it.
    - A given time before the event's last registration (`last`) is refused: positions follow arrival, and a
      back-dated entry could only take its true rank by moving people who were told their seat or place.
    - A time at or after the event's start is recorded (staff decide: a walk-in at the door), with a warning.
    Without a given time nothing is refused: "now" is never back-dated on purpose (a mail server's clock a
    few seconds ahead of ours is no reason to turn a caller away).
    """
    at = given or now

    def show(moment: datetime) -> str:
        return moment.astimezone(tz).isoformat(timespec="seconds")

    if given is not None and given > now:
        return Received(at, refusal=f"--received-at {show(given)} is in the future (now: {show(now)})")
    if given is not None and last is not None and given < last:
        return Received(
            at,
            refusal=(
                f"--received-at {show(given)} is before the last registration of {event.id} "
                f"(received {show(last)}): positions follow arrival and nobody already placed is moved; "
                "give a time from then on, or none (now)"
            ),
        )
    if at >= event.starts_at:
        return Received(
            at,
            warning=f"{event.id} started at {show(event.starts_at)}; recorded anyway as received {show(at)}",
        )
    return Received(at)
