"""The corpus: drafts interleaved in arrival order, the same arguments giving the same bytes."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

from mailbot.demo.corpus.context import Context
from mailbot.demo.corpus.keywords import keyword_variants, parse_keyword
from mailbot.demo.corpus.model import CorpusMail
from mailbot.demo.corpus.registrations import plan_registration, plan_repeat
from mailbot.demo.corpus.rendering import render_letter
from mailbot.demo.corpus.robots import auto_reply, unrelated_mail


@dataclass(frozen=True)
class _Draft:
    """A mail whose place in the arrival order is known; rendered once its INTERNALDATE is."""

    key: float
    render: Callable[[datetime], CorpusMail]


def build_corpus(
    *,
    registrations: int = 90,
    repeats: int = 3,
    unrelated: int = 5,
    auto_replies: int = 2,
    keyword: str = "Digitalisierung 08.10.",
    to: str = "digitalisierung@castrop-rauxel.de",
    start: datetime = datetime(2020, 9, 21, 8, 0, tzinfo=UTC),
    seed: int = 8,
) -> list[CorpusMail]:
    """A mailbox's worth of realistic mail in arrival order; the same arguments give the same bytes.

    `registrations` mails from distinct new senders (compared case-insensitively) in varied styles, `repeats`
    later mails from some of them, `unrelated` office mail without the keyword, `auto_replies` robots (an
    out-of-office with the keyword in its subject, a bounce quoting it, ...), interleaved. INTERNALDATEs
    start at `start` and grow by 5 s to 20 min; Date headers mostly agree, but some lie.
    """
    counts = {"registrations": registrations, "repeats": repeats, "unrelated": unrelated}
    for name, count in {**counts, "auto_replies": auto_replies}.items():
        if count < 0:
            raise ValueError(f"{name} must not be negative: {count}")
    if repeats > registrations:
        raise ValueError(f"repeats ({repeats}) need as many registrations ({registrations})")
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    rng = random.Random(seed)  # noqa: S311 (test data, not cryptography)
    invited = start - timedelta(days=3, hours=-2)
    variants = keyword_variants(keyword, year=start.year)
    ctx = Context(rng, " ".join(keyword.split()), parse_keyword(keyword), to, start.year, invited, variants)
    ctx.invite_id = ctx.message_id("hex", ctx.to_domain, invited)

    # Registrations keep their order; the others get a random place (a repeat after its original).
    letters = [plan_registration(ctx) for _ in range(registrations)]
    drafts = [
        _Draft(i, partial(render_letter, ctx, "registration", letter)) for i, letter in enumerate(letters)
    ]
    for index, original in enumerate(rng.sample(range(registrations), repeats)):
        repeat = partial(render_letter, ctx, "repeat", plan_repeat(ctx, letters[original], index))
        drafts.append(_Draft(rng.uniform(original + 0.5, registrations + 1), repeat))
    for index in range(unrelated):
        drafts.append(_Draft(rng.uniform(-0.5, registrations), partial(unrelated_mail, ctx, index)))
    for index in range(auto_replies):
        bounced = rng.randrange(registrations) if registrations else None
        person = None if bounced is None else letters[bounced].person
        low = bounced + 0.5 if bounced is not None and index % 4 == 1 else -0.5
        drafts.append(
            _Draft(rng.uniform(low, registrations + 1), partial(auto_reply, ctx, index, bounced=person))
        )
    drafts.sort(key=lambda d: d.key)

    mails: list[CorpusMail] = []
    arrival = start
    for n, draft in enumerate(drafts):
        if n:
            arrival += timedelta(seconds=rng.randint(5, 1200))
        mails.append(draft.render(arrival))
    return mails
