"""Parsing the sample corpus: the email package as it is vs the parser behind the seam (core/mime_reader.py).

Usage: python bench/parse.py [--messages N] [--rounds R]

Prints, per parser, the median seconds over R alternating rounds to parse N corpus mails (registrations,
repeats, auto-replies, newsletters, bounces), the rate, and the seam's time as a fraction of the plain one;
then `parse_message` (the core's whole reading of a mail, which uses the seam) for scale.
Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mailbot.core.mime_reader import message_from_bytes
from mailbot.core.parse import parse_message
from mailbot.demo.corpus import build_corpus


def plain(raw: bytes) -> object:
    """The email package as every other caller in the process uses it."""
    return email.message_from_bytes(raw, policy=email.policy.compat32)


def seam(raw: bytes) -> object:
    """The parser behind the seam."""
    return message_from_bytes(raw, email.policy.compat32)


def timed(parse: Callable[[bytes], object], mails: list[bytes]) -> float:
    """Seconds to parse every mail once."""
    start = time.perf_counter()
    for raw in mails:
        parse(raw)
    return time.perf_counter() - start


def main() -> None:
    """Alternate the parsers round by round and print the medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=7)
    options = parser.parse_args()
    share = max(1, options.messages // 20)
    corpus = build_corpus(
        registrations=options.messages - 3 * share, repeats=share, unrelated=share, auto_replies=share
    )
    mails = [mail.raw for mail in corpus]
    multipart = sum(b"boundary=" in raw.lower() for raw in mails)
    print(f"{len(mails)} corpus mails, {multipart} multipart, {sum(map(len, mails)) / 1e6:.1f} MB")
    runs: dict[str, list[float]] = {"email package": [], "seam": [], "parse_message": []}
    for round_no in range(options.rounds):
        order = [("email package", plain), ("seam", seam)]
        for name, parse in order if round_no % 2 == 0 else order[::-1]:
            runs[name].append(timed(parse, mails))
        runs["parse_message"].append(timed(parse_message, mails))
    for name, seconds in runs.items():
        median = statistics.median(seconds)
        print(f"  {name:<14} {median:6.3f} s  {len(mails) / median:7.0f} mails/s  (median of {len(seconds)})")
    ratio = statistics.median(runs["seam"]) / statistics.median(runs["email package"])
    print(f"seam / email package: {ratio:.2f} of the time")


if __name__ == "__main__":
    main()
