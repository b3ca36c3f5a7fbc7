"""Storm or rush: how many of the next replies may go out, judged by the replies of the last hour."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class StormLimits:
    """The breaker's limits per hour (0: that check is off); see `allowance`."""

    repeats: int  # replies to an address that had one already in the hour ([bot] max_repeat_replies_per_hour)
    per_domain: int  # replies to one domain ([bot] max_replies_per_domain_per_hour)

    def cannot_trip(self, replies: int) -> bool:
        """Whether `replies` replies in an hour are too few for any check to trip (no need to look closer)."""
        limits = [limit for limit in (self.repeats, self.per_domain) if limit]
        return not limits or replies <= min(limits)


@dataclass(frozen=True)
class Allowance:
    """How many of the queued replies may go now, and why not the rest ('' when all may go)."""

    allowed: int
    reason: str = ""


def allowance(sent: Sequence[str], queued: Sequence[str], limits: StormLimits) -> Allowance:
    """How many of `queued` (normalised recipients, in sending order) may follow `sent` (the normalised
    recipients of the replies sent in the last hour) before the hour looks like a storm.

    A rush is many distinct new people, from many domains: each gets one reply and no domain has most of
    them. A storm is most of the hour's replies going to
      1. addresses answered already in that hour (a loop, a few addresses writing again and again), past
         `limits.repeats` such replies;
      2. one domain (a flood from one source, e.g. forged senders of one domain), past `limits.per_domain`.
    "Most" means more than half: a check trips only when its replies pass the limit AND make more than half of
    the hour's replies, so the usual repeats of a rush (a second mail, a status question) and the big
    mail providers' share of it never stop a rush.
    """
    if limits.cannot_trip(len(sent) + len(queued)):
        return Allowance(len(queued))
    per_address = Counter(sent)
    per_domain = Counter(_domain(address) for address in sent)
    repeats = sum(count - 1 for count in per_address.values())
    total = len(sent)
    for index, address in enumerate(queued):
        total += 1
        repeat = per_address[address] > 0
        domain = _domain(address)
        if repeat and limits.repeats and repeats + 1 > limits.repeats and 2 * (repeats + 1) > total:
            return Allowance(
                index,
                f"storm: {repeats} of the last hour's {total - 1} replies went to addresses answered already "
                f"in that hour ([bot] max_repeat_replies_per_hour = {limits.repeats})",
            )
        same_domain = per_domain[domain] + 1
        if limits.per_domain and same_domain > limits.per_domain and 2 * same_domain > total:
            return Allowance(
                index,
                f"storm: {same_domain - 1} of the last hour's {total - 1} replies went to one domain, "
                f"{domain} ([bot] max_replies_per_domain_per_hour = {limits.per_domain})",
            )
        repeats += repeat
        per_address[address] += 1
        per_domain[domain] += 1
    return Allowance(len(queued))


def _domain(address: str) -> str:
    """The part after the last "@" (the whole text when there is none)."""
    return address.rpartition("@")[2]
