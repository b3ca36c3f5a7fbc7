"""The arrival time of a staff entry: back-dating and the future refused, after the start a warning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from mailbot.core.entry import Received, received
from mailbot.core.model import Event

BERLIN = ZoneInfo("Europe/Berlin")
START = datetime(2099, 10, 8, 16, 0, tzinfo=UTC)
EVENT = Event(id="digi", title="Digi", keyword="Digi", capacity=3, starts_at=START)
NOW = datetime(2099, 9, 21, 8, 0, tzinfo=UTC)
LAST = NOW - timedelta(hours=1)


def test_a_time_from_the_last_registration_on_is_recorded_as_given() -> None:
    """The same second as the last registration, or later, is taken as given, without a word."""
    for given in (LAST, LAST + timedelta(minutes=5)):
        assert received(EVENT, given, now=NOW, last=LAST, tz=BERLIN) == Received(given)


def test_back_dating_and_the_future_are_refused_with_the_times_in_local_time() -> None:
    """A second before the last registration, or a second ahead of now, is refused and says why."""
    back = received(EVENT, LAST - timedelta(seconds=1), now=NOW, last=LAST, tz=BERLIN)
    assert back.refusal.startswith("--received-at 2099-09-21T08:59:59+02:00 is before the last registration")
    assert "(received 2099-09-21T09:00:00+02:00)" in back.refusal
    ahead = received(EVENT, NOW + timedelta(seconds=1), now=NOW, last=None, tz=BERLIN)
    assert (
        ahead.refusal
        == "--received-at 2099-09-21T10:00:01+02:00 is in the future (now: 2099-09-21T10:00:00+02:00)"
    )


def test_now_is_never_refused_even_behind_the_last_registration() -> None:
    """Without a given time, "now" is recorded even if a mail server's clock put the last one ahead."""
    result = received(EVENT, None, now=NOW, last=NOW + timedelta(seconds=3), tz=BERLIN)
    assert (result.at, result.refusal, result.warning) == (NOW, "", "")


def test_a_time_at_or_after_the_start_is_recorded_with_a_warning() -> None:
    """At the event's start or later: recorded, with a warning naming the start and the time."""
    result = received(EVENT, None, now=START, last=None, tz=BERLIN)
    assert result.refusal == ""
    assert result.warning == (
        "digi started at 2099-10-08T18:00:00+02:00; recorded anyway as received 2099-10-08T18:00:00+02:00"
    )
