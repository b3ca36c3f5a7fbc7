"""The storm breaker's judgement (core/storm.py): a rush of distinct people goes, a loop or a flood stops."""

from __future__ import annotations

import time

from mailbot.core.storm import Allowance, StormLimits, allowance

DEFAULTS = StormLimits(repeats=100, per_domain=500)
PROVIDERS = ("web.de", "gmx.de", "t-online.de", "gmail.com", "outlook.de", "posteo.de", "castrop-rauxel.de")


def citizen(n: int) -> str:
    """The n-th distinct citizen, at the big German providers in turn (web.de the most)."""
    return f"buerger{n}@{PROVIDERS[n % 7] if n % 3 else 'web.de'}"


def test_a_rush_of_3000_distinct_citizens_all_goes() -> None:
    """3,000 new people in one hour, a third at web.de, a few writing twice: nothing is held back."""
    rush = [citizen(n) for n in range(3000)]
    twice = [citizen(n) for n in range(0, 3000, 25)]  # 120 people send a second mail (4 %)
    assert allowance(rush[:1500], rush[1500:] + twice, DEFAULTS) == Allowance(1500 + len(twice))


def test_a_loop_of_few_addresses_stops_after_the_repeat_limit() -> None:
    """Ten addresses answered again and again: the first 10 replies and 100 repeats go, then it stops."""
    loop = [f"auto{n % 10}@loop{n % 10}.example" for n in range(300)]
    verdict = allowance([], loop, DEFAULTS)
    assert verdict.allowed == 110
    assert "max_repeat_replies_per_hour = 100" in verdict.reason
    assert "100 of the last hour's 110 replies" in verdict.reason
    # Judged the same when those replies went out already (sent) rather than waiting (queued).
    assert allowance(loop[:200], loop[200:], DEFAULTS).allowed == 0


def test_a_flood_to_one_domain_stops_after_the_domain_limit() -> None:
    """Distinct forged senders of one domain: 500 go, then it stops, naming the domain (not an address)."""
    flood = [f"forged{n}@victim.example" for n in range(800)]
    verdict = allowance([], flood, DEFAULTS)
    assert verdict.allowed == 500
    assert "to one domain, victim.example" in verdict.reason
    assert "forged" not in verdict.reason


def test_a_big_provider_during_a_rush_is_no_flood() -> None:
    """900 web.de addresses in an hour are no flood while they are less than half of the hour's replies."""
    others = ("gmx.de", "t-online.de", "gmail.com")
    sent = [f"person{n}@web.de" for n in range(900)] + [f"person{n}@{others[n % 3]}" for n in range(1000)]
    assert allowance(sent, [f"late{n}@web.de" for n in range(50)], DEFAULTS).allowed == 50


def test_zero_turns_a_check_off() -> None:
    """With both limits 0 nothing is held back (e.g. an internal event: everyone at the city's domain)."""
    staff = [f"staff{n % 700}@castrop-rauxel.de" for n in range(2000)]
    assert allowance([], staff, StormLimits(repeats=0, per_domain=0)).allowed == 2000
    assert allowance([], staff, StormLimits(repeats=0, per_domain=500)).allowed == 500


def test_judging_a_big_hour_is_linear() -> None:
    """50,000 sent and 500 queued replies are judged well under a second (one pass over each list)."""
    sent = [citizen(n) for n in range(50_000)]
    started = time.perf_counter()
    assert allowance(sent, [citizen(n) for n in range(50_000, 50_500)], DEFAULTS).allowed == 500
    assert time.perf_counter() - started < 1.0
