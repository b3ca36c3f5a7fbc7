"""The pacer (core/pacing.py): evenly spaced starts, a deadline per flush, slower after throttling."""

from __future__ import annotations

import pytest

from mailbot.core.pacing import MAX_INTERVAL, Pacer, is_throttling


def starts(pacer: Pacer, now: float, count: int) -> list[float | None]:
    """The slots of `count` mails asked for at `now`."""
    return [pacer.slot(now) for _ in range(count)]


def test_mails_start_evenly_spaced_at_the_configured_rate() -> None:
    """At 30 per minute the mails start 2 s apart, in the order they ask; a late caller starts at once."""
    pacer = Pacer(30)
    assert starts(pacer, 100.0, 4) == [100.0, 102.0, 104.0, 106.0]
    assert pacer.slot(200.0) == 200.0  # after a quiet while no catching up in a burst
    assert pacer.slot(200.0) == 202.0
    assert pacer.rate == 30
    assert pacer.seconds_for(500) == 1000  # 500 replies at 30 per minute: about 17 minutes


def test_unpaced_mails_start_at_once() -> None:
    """max_per_minute = 0: every mail may start now."""
    pacer = Pacer(0)
    assert starts(pacer, 5.0, 3) == [5.0, 5.0, 5.0]
    assert (pacer.rate, pacer.seconds_for(100)) == (0, 0)


def test_no_slot_past_the_deadline_but_one_that_starts_now() -> None:
    """A flush waits for slots only until its deadline; a mail that can start right now always may."""
    pacer = Pacer(60)
    pacer.deadline = 102.5
    assert starts(pacer, 100.0, 5) == [100.0, 101.0, 102.0, None, None]
    pacer.deadline = 0.0  # `wait=False`: only what may start right now
    assert pacer.slot(103.0) == 103.0
    assert pacer.slot(103.0) is None


def test_throttling_halves_the_pace_and_pauses_then_it_recovers() -> None:
    """A throttling answer doubles the interval and delays the next start; accepted mails bring it back to the
    configured pace, never faster; repeated throttling stops at MAX_INTERVAL."""
    pacer = Pacer(30)
    pacer.slot(100.0)
    pacer.throttled(100.5)
    assert pacer.interval == 4.0
    assert pacer.slot(100.5) == 104.5
    for _ in range(50):
        pacer.accepted()
    assert pacer.interval == 2.0
    for _ in range(30):
        pacer.throttled(110.0)
    assert pacer.interval == MAX_INTERVAL


def test_an_unpaced_desk_throttled_goes_on_at_60_per_minute_and_recovers_to_unpaced() -> None:
    """Unpaced, a throttling answer starts pacing at one mail a second; enough accepted mails end it."""
    pacer = Pacer(0)
    pacer.throttled(10.0)
    assert (pacer.interval, pacer.slot(10.0)) == (1.0, 11.0)
    for _ in range(200):
        pacer.accepted()
    assert pacer.interval == 0.0


@pytest.mark.parametrize(
    ("answer", "throttling"),
    [
        ("432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded", True),
        ("421 4.7.0 Temporary server error. Please try again later. PRX4", True),
        ("450 4.7.1 Client host rejected: try again later", True),
        ("451 4.7.500 Access denied, please try again later", True),
        ("432 concurrent connections limit exceeded", True),
        ("421 Service not available, closing transmission channel", False),
        ("451 4.3.0 Mail server temporarily rejected message", False),
        ("452 4.2.2 Mailbox full", False),
        ("550 5.7.1 Relaying denied", False),
        ("", False),
    ],
)
def test_throttling_answers_are_4_7_x_and_4_3_2(answer: str, throttling: bool) -> None:
    """Enhanced codes 4.7.x and 4.3.2 (and a bare 432) ask to slow down; other 4xx and any 5xx do not."""
    assert is_throttling(answer) is throttling
