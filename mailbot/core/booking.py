"""Seat decisions: confirmed while seats remain, then the waitlist, strictly first come first served."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from mailbot.core.model import Decision, Event, EventCounts, Existing, ReplyStatus, Status


def decide(event: Event, counts: EventCounts, existing: Existing | None) -> Decision:
    """Book one keyword mail for one event.

    - The address already holds an active registration: no new one; a ``duplicate`` reply stating it.
    - A seat is free (confirmed < capacity) and nobody waits: confirmed, with the next seat number.
      While anyone is on the waitlist, a newcomer queues behind them (strict FIFO, invariant 3).
    - Otherwise: waitlisted at the end of the waitlist.
    Expected outcomes are values, never exceptions (docs/ARCHITECTURE.md, "How the core reads mail": Booking).
    """
    if existing is not None and existing.status is not Status.CANCELLED:
        return _as_it_stands(existing, ReplyStatus.DUPLICATE)
    position = counts.registrations + 1
    if counts.confirmed < event.capacity and counts.waitlisted == 0:
        return Decision(
            reply=ReplyStatus.CONFIRMED,
            status=Status.CONFIRMED,
            new_registration=True,
            position=position,
            seat=counts.confirmed + 1,
        )
    return Decision(
        reply=ReplyStatus.WAITLISTED,
        status=Status.WAITLISTED,
        new_registration=True,
        position=position,
        waitlist_position=counts.waitlisted + 1,
    )


def cancel(existing: Existing | None, *, proven: bool) -> Decision:
    """Cancel the person's active registration once they proved they own its address (invariant 8).

    - No active registration: ``not-registered``.
    - `proven` (the mail answers one of our mails to that address): cancelled at once.
    - Otherwise anyone could have written the From: nothing changes, and the registered address is asked to
      confirm (``confirm-cancel``); the answer to that mail is the proof.
    """
    if existing is None or existing.status is Status.CANCELLED:
        return Decision(reply=ReplyStatus.NOT_REGISTERED, status=None, new_registration=False, position=0)
    if not proven:
        return _as_it_stands(existing, ReplyStatus.CONFIRM_CANCEL)
    return Decision(
        reply=ReplyStatus.CANCELLED,
        status=Status.CANCELLED,
        new_registration=False,
        position=existing.position,
    )


def status(existing: Existing | None) -> Decision:
    """Answer a status query with the current seat or waitlist place; ``not-registered`` without one."""
    if existing is None or existing.status is Status.CANCELLED:
        return Decision(reply=ReplyStatus.NOT_REGISTERED, status=None, new_registration=False, position=0)
    return _as_it_stands(existing, ReplyStatus.STATUS)


def seats_to_promote(event: Event, counts: EventCounts, now: datetime) -> int:
    """How many people move up from the waitlist now: free seats, as long as the event hasn't started.

    A capacity lowered below the confirmed count frees nothing (nobody is un-confirmed).
    """
    if now >= event.starts_at:
        return 0
    return max(0, min(counts.waitlisted, event.capacity - counts.confirmed))


def outside_window(event: Event, existing: Existing | None, arrived: datetime) -> Decision | None:
    """A registration that arrived before `opens_at` (not-open) or from the close on (closed); else None.

    The close is `closes_at`, else the end (or start) of the event. Someone already registered gets their
    usual duplicate answer instead.
    """
    if existing is not None and existing.status is not Status.CANCELLED:
        return None
    if event.opens_at is not None and arrived < event.opens_at:
        return Decision(reply=ReplyStatus.NOT_OPEN, status=None, new_registration=False, position=0)
    if arrived >= event.registration_closes:
        return Decision(reply=ReplyStatus.CLOSED, status=None, new_registration=False, position=0)
    return None


def places(statuses: Sequence[str]) -> list[tuple[int | None, int | None]]:
    """(seat number, waitlist place) of each of an event's registrations, given in arrival order.

    The seat number counts the confirmed ones, the waitlist place the waitlisted ones, each up to and
    including this one (as the replies state them); a cancelled registration has neither. The arrival number
    (``position``) counts every registration, cancelled ones included.
    """
    seats = waiting = 0
    found: list[tuple[int | None, int | None]] = []
    for status in statuses:
        if status == Status.CONFIRMED:
            seats += 1
            found.append((seats, None))
        elif status == Status.WAITLISTED:
            waiting += 1
            found.append((None, waiting))
        else:
            found.append((None, None))
    return found


def _as_it_stands(existing: Existing, reply: ReplyStatus) -> Decision:
    """A decision that changes nothing: the reply states the registration as it stands."""
    return Decision(
        reply=reply,
        status=existing.status,
        new_registration=False,
        position=existing.position,
        seat=existing.seat,
        waitlist_position=existing.waitlist_position,
    )


def standing(status: Status, position: int, ahead: int) -> Existing:
    """A registration as the booking sees it, given how many of the same status arrived before it.

    Its seat number (confirmed) or waitlist place (waitlisted) is one more than that count, as in `places`.
    """
    return Existing(
        status=status,
        position=position,
        seat=ahead + 1 if status is Status.CONFIRMED else None,
        waitlist_position=ahead + 1 if status is Status.WAITLISTED else None,
    )


def counts_after(
    counts: EventCounts, old: Status | None, new: Status | None, position: int = 0
) -> EventCounts:
    """An event's counts after one registration went from `old` to `new` (None: it didn't exist / was none).

    `position` is the arrival number of a new registration (the count of all registrations is the highest).
    """
    confirmed, waitlisted = counts.confirmed, counts.waitlisted
    for status, step in ((old, -1), (new, 1)):
        if status is Status.CONFIRMED:
            confirmed += step
        elif status is Status.WAITLISTED:
            waitlisted += step
    return EventCounts(
        confirmed=confirmed, waitlisted=waitlisted, registrations=max(counts.registrations, position)
    )
