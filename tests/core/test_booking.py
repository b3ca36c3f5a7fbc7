"""Seat decisions: confirmed while seats remain, then a strict FIFO waitlist; duplicates book nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mailbot.core import booking
from mailbot.core.booking import decide
from mailbot.core.model import Decision, Event, EventCounts, Existing, ReplyStatus, Status


def event(capacity: int) -> Event:
    """The seed event with the given number of seats."""
    return Event(
        "digi", "Digitalisierung", "Digitalisierung 08.10.", capacity, datetime(2020, 10, 8, 16, tzinfo=UTC)
    )


def test_first_registration_gets_seat_one() -> None:
    """The first keyword mail of an event is confirmed on seat 1, position 1."""
    decision = decide(event(30), EventCounts(confirmed=0, waitlisted=0, registrations=0), None)
    assert decision == Decision(
        reply=ReplyStatus.CONFIRMED, status=Status.CONFIRMED, new_registration=True, position=1, seat=1
    )


def test_seat_and_position_follow_the_counts() -> None:
    """A confirmed registration gets seat confirmed+1 and position registrations+1 (cancelled ones count)."""
    decision = decide(event(30), EventCounts(confirmed=12, waitlisted=0, registrations=15), None)
    assert (decision.reply, decision.seat, decision.position, decision.waitlist_position) == (
        ReplyStatus.CONFIRMED,
        13,
        16,
        None,
    )


def test_last_seat_is_confirmed() -> None:
    """With one seat left, the next mail is confirmed on the last seat."""
    decision = decide(event(30), EventCounts(confirmed=29, waitlisted=0, registrations=29), None)
    assert (decision.status, decision.seat) == (Status.CONFIRMED, 30)


def test_full_event_waitlists_at_the_end() -> None:
    """When every seat is taken, the mail goes to the end of the waitlist (waitlisted+1), no seat."""
    decision = decide(event(30), EventCounts(confirmed=30, waitlisted=4, registrations=36), None)
    assert decision == Decision(
        reply=ReplyStatus.WAITLISTED,
        status=Status.WAITLISTED,
        new_registration=True,
        position=37,
        waitlist_position=5,
    )


def test_capacity_zero_waitlists_everyone() -> None:
    """An event without seats puts every registration on the waitlist."""
    decision = decide(event(0), EventCounts(confirmed=0, waitlisted=0, registrations=0), None)
    assert (decision.status, decision.seat, decision.waitlist_position) == (Status.WAITLISTED, None, 1)


def test_arrivals_fill_seats_then_waitlist_in_order() -> None:
    """A run of new addresses gets seats 1..capacity, then waitlist places 1, 2, ... in arrival order."""
    capacity, confirmed, waitlisted = 3, 0, 0
    outcomes = []
    for registrations in range(6):
        decision = decide(event(capacity), EventCounts(confirmed, waitlisted, registrations), None)
        outcomes.append((decision.position, decision.status, decision.seat, decision.waitlist_position))
        confirmed += decision.status is Status.CONFIRMED
        waitlisted += decision.status is Status.WAITLISTED
    assert outcomes == [
        (1, Status.CONFIRMED, 1, None),
        (2, Status.CONFIRMED, 2, None),
        (3, Status.CONFIRMED, 3, None),
        (4, Status.WAITLISTED, None, 1),
        (5, Status.WAITLISTED, None, 2),
        (6, Status.WAITLISTED, None, 3),
    ]
    assert confirmed <= capacity


@pytest.mark.parametrize(
    "existing",
    [
        pytest.param(Existing(Status.CONFIRMED, position=7, seat=7, waitlist_position=None), id="confirmed"),
        pytest.param(
            Existing(Status.WAITLISTED, position=35, seat=None, waitlist_position=3), id="waitlisted"
        ),
    ],
)
def test_active_registration_gives_duplicate(existing: Existing) -> None:
    """An address with an active registration gets a duplicate reply stating it; nothing new is booked."""
    decision = decide(event(30), EventCounts(confirmed=30, waitlisted=5, registrations=40), existing)
    assert decision == Decision(
        reply=ReplyStatus.DUPLICATE,
        status=existing.status,
        new_registration=False,
        position=existing.position,
        seat=existing.seat,
        waitlist_position=existing.waitlist_position,
    )


def test_cancelled_registration_allows_a_new_one() -> None:
    """An address whose registration was cancelled registers anew, at the end of the arrival order."""
    cancelled = Existing(Status.CANCELLED, position=2, seat=None, waitlist_position=None)
    decision = decide(event(30), EventCounts(confirmed=10, waitlisted=0, registrations=12), cancelled)
    assert (decision.reply, decision.new_registration, decision.position, decision.seat) == (
        ReplyStatus.CONFIRMED,
        True,
        13,
        11,
    )


def test_newcomer_queues_behind_waitlist_even_with_a_free_seat() -> None:
    """While anyone waits, a newcomer is waitlisted behind them even if a seat is free (strict FIFO)."""
    decision = decide(event(30), EventCounts(confirmed=29, waitlisted=2, registrations=31), None)
    assert (decision.reply, decision.waitlist_position, decision.position) == (ReplyStatus.WAITLISTED, 3, 32)


def existing(status: Status, position: int = 4, seat: int | None = None, wait: int | None = None) -> Existing:
    """An active (or cancelled) registration of the asking person."""
    return Existing(status=status, position=position, seat=seat, waitlist_position=wait)


def test_cancel_of_an_active_registration() -> None:
    """Cancelling an active registration (ownership proven) answers 'cancelled' and keeps its position."""
    decision = booking.cancel(existing(Status.CONFIRMED, seat=3), proven=True)
    assert (decision.reply, decision.status, decision.position) == (
        ReplyStatus.CANCELLED,
        Status.CANCELLED,
        4,
    )


@pytest.mark.parametrize("before", [None, existing(Status.CANCELLED)], ids=["none", "already-cancelled"])
def test_cancel_without_registration_is_not_registered(before: Existing | None) -> None:
    """Cancel from someone without an active registration answers 'not-registered' and changes nothing."""
    decision = booking.cancel(before, proven=True)
    assert (decision.reply, decision.status, decision.new_registration) == (
        ReplyStatus.NOT_REGISTERED,
        None,
        False,
    )


def test_status_reports_the_current_place() -> None:
    """A status query answers with the current waitlist place."""
    decision = booking.status(existing(Status.WAITLISTED, wait=2))
    assert (decision.reply, decision.status, decision.waitlist_position) == (
        ReplyStatus.STATUS,
        Status.WAITLISTED,
        2,
    )
    assert booking.status(None).reply is ReplyStatus.NOT_REGISTERED


@pytest.mark.parametrize(
    ("capacity", "confirmed", "waitlisted", "now_offset_h", "expected"),
    [
        (30, 29, 3, -1, 1),  # one seat freed: the head of the waitlist moves up
        (35, 30, 3, -1, 3),  # capacity raised by 5, only 3 wait
        (30, 30, 3, -1, 0),  # full
        (20, 30, 3, -1, 0),  # capacity lowered below the confirmed: nobody moves, nobody is un-confirmed
        (30, 25, 3, +1, 0),  # the event has started: no promotions
    ],
    ids=["one-freed", "raised", "full", "lowered", "started"],
)
def test_seats_to_promote(
    capacity: int, confirmed: int, waitlisted: int, now_offset_h: int, expected: int
) -> None:
    """Free seats go to the waitlist before the event starts, never after, never below zero."""
    ev = event(capacity)
    now = ev.starts_at + timedelta(hours=now_offset_h)
    counts = EventCounts(confirmed=confirmed, waitlisted=waitlisted, registrations=confirmed + waitlisted)
    assert booking.seats_to_promote(ev, counts, now) == expected


def test_places_count_seats_and_waitlist_apart_from_arrival() -> None:
    """Seat numbers count the confirmed, waitlist places the waitlisted, in arrival order; cancelled: none."""
    statuses = ["cancelled", "confirmed", "waitlisted", "confirmed", "cancelled", "waitlisted"]
    expected = [(None, None), (1, None), (None, 1), (2, None), (None, None), (None, 2)]
    assert booking.places(statuses) == expected


@pytest.mark.parametrize("before", [existing(Status.CONFIRMED, seat=3), existing(Status.WAITLISTED, wait=2)])
def test_cancel_without_proof_asks_the_owner_and_changes_nothing(before: Existing) -> None:
    """A cancel mail that proves no ownership asks for confirmation; the registration keeps its status."""
    decision = booking.cancel(before, proven=False)
    assert decision.reply is ReplyStatus.CONFIRM_CANCEL
    assert (decision.status, decision.seat, decision.waitlist_position) == (
        before.status,
        before.seat,
        before.waitlist_position,
    )


def test_cancel_without_proof_and_without_registration_is_not_registered() -> None:
    """Nothing to cancel: 'not-registered', proof or not (no confirmation request for nothing)."""
    assert booking.cancel(None, proven=False).reply is ReplyStatus.NOT_REGISTERED


def test_standing_counts_the_same_status_ahead() -> None:
    """A registration's seat or waitlist place is one more than those of its status that arrived before it."""
    assert booking.standing(Status.CONFIRMED, 7, 2) == Existing(
        Status.CONFIRMED, 7, seat=3, waitlist_position=None
    )
    assert booking.standing(Status.WAITLISTED, 9, 0) == Existing(
        Status.WAITLISTED, 9, seat=None, waitlist_position=1
    )
    assert booking.standing(Status.CANCELLED, 4, 5) == Existing(
        Status.CANCELLED, 4, seat=None, waitlist_position=None
    )


def test_standing_agrees_with_places() -> None:
    """standing() gives each registration the seat or place that places() gives the whole event."""
    statuses = [Status.CONFIRMED, Status.CANCELLED, Status.WAITLISTED, Status.CONFIRMED, Status.WAITLISTED]
    for position, (status, (seat, place)) in enumerate(
        zip(statuses, booking.places(statuses), strict=True), 1
    ):
        ahead = sum(s is status for s in statuses[: position - 1])
        standing = booking.standing(status, position, ahead)
        assert (standing.seat, standing.waitlist_position) == (seat, place)


@pytest.mark.parametrize(
    ("old", "new", "position", "expected"),
    [
        (None, Status.CONFIRMED, 11, (6, 2, 11)),  # a new registration: its arrival number is the highest
        (None, Status.WAITLISTED, 11, (5, 3, 11)),
        (Status.CONFIRMED, Status.CANCELLED, 0, (4, 2, 10)),  # a cancellation frees a seat
        (Status.WAITLISTED, Status.CONFIRMED, 0, (6, 1, 10)),  # a promotion
        (Status.WAITLISTED, Status.CANCELLED, 0, (5, 1, 10)),
    ],
)
def test_counts_after_one_change(
    old: Status | None, new: Status, position: int, expected: tuple[int, int, int]
) -> None:
    """The counts after one registration changed are the counts before, moved by that change only."""
    after = booking.counts_after(EventCounts(confirmed=5, waitlisted=2, registrations=10), old, new, position)
    assert (after.confirmed, after.waitlisted, after.registrations) == expected
