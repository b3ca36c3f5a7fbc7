"""flufl.bounce: recipients of non-standard bounces (qmail, Exim, Exchange texts); the only importer of it."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import logging
from collections.abc import Callable
from email.message import Message
from typing import TypeVar

from flufl.bounce import all_failures, scan_message

from mailbot.core.bounce import BounceReport, looks_like_bounce, might_be_bounce, read_bounce
from mailbot.core.model import RuleContext
from mailbot.core.parse import decode_header_value

log = logging.getLogger(__name__)
_T = TypeVar("_T")
# flufl's detectors try dozens of patterns on every line of the mail: ~150 µs a line, a minute for a
# crafted megabyte of empty lines. A bounce names the failing address near its top (RFC 3464 §2: the
# report comes before the returned message), so they read its first lines only.
FLUFL_MAX_LINES = 2000
FLUFL_MAX_BYTES = 256 * 1024


def bounced_addresses(raw: bytes) -> tuple[str, ...]:
    """The addresses flufl.bounce reads as failing for good, lower-case and sorted; () on any error."""
    found = _run(scan_message, raw)
    return () if found is None else _addresses(found)


def read(raw: bytes, ctx: RuleContext) -> BounceReport | None:
    """The core's reading of a bounce, completed with flufl.bounce's recipients where the report names none.

    - An RFC 3464 report with recipients: the core's reading as it is.
    - Our Message-ID found but no recipients (a non-standard bounce): flufl's recipients; permanent
      unless flufl sees only temporary failures.
    - Nothing of ours found, but a mail that looks like a bounce and flufl finds failing recipients:
      a report with those recipients and no Message-ID (matched by address, if at all).
    Never raises.
    """
    report = read_bounce(raw, ctx)
    if report is None:
        return _flufl_only(raw)
    if report.failed_recipients:
        return report
    found = _run(all_failures, raw)
    if found is None:
        return report
    temporary, permanent = _addresses(found[0]), _addresses(found[1])
    if not (permanent or temporary):
        return report
    return dataclasses.replace(
        report,
        failed_recipients=permanent or temporary,
        permanent=bool(permanent) or (report.permanent and not temporary),
    )


def _flufl_only(raw: bytes) -> BounceReport | None:
    """A bounce of someone else's mail (or one quoting no Message-ID): flufl's permanent failures, if any."""
    if not _looks_like_bounce(raw):
        # flufl's heuristics find "failing" addresses in a citizen's pasted bounce text, for one.
        return None
    found = _run(all_failures, raw)
    permanent = _addresses(found[1]) if found is not None else ()
    if not permanent:
        return None  # only warnings (or nothing), and none of ours: nothing to record
    return BounceReport(
        our_message_ids=(), failed_recipients=permanent, permanent=True, diagnostic=_subject(raw)
    )


def _run(detect: Callable[[Message], _T], raw: bytes) -> _T | None:
    """flufl's detectors on the mail; None when they fail on it.

    They read the mail's first FLUFL_MAX_LINES lines (at most FLUFL_MAX_BYTES). They are tried on a
    compat32 parse first (what flufl is tested with), then on an email.policy.default
    one: on compat32, a header with raw 8-bit bytes is a Header object, and some detectors call str
    methods on it (flufl.bounce 6.0.0, sina.py: ``msg.get('from', '').lower()``).
    """
    raw = _head(raw)
    try:
        return detect(email.message_from_bytes(raw, policy=email.policy.compat32))
    except Exception:  # heuristics over hostile text: a pass must go on
        log.debug("flufl.bounce failed on a compat32 parse; trying email.policy.default", exc_info=True)
    try:
        return detect(email.message_from_bytes(raw, policy=email.policy.default))
    except Exception:  # as above
        log.warning("flufl.bounce failed on a message", exc_info=True)
    return None


def _head(raw: bytes) -> bytes:
    """The mail cut after its FLUFL_MAX_LINES-th line, and at FLUFL_MAX_BYTES."""
    head = raw[:FLUFL_MAX_BYTES]
    end = -1
    for _ in range(FLUFL_MAX_LINES):
        end = head.find(b"\n", end + 1)
        if end < 0:
            return head
    return head[: end + 1]


def _looks_like_bounce(raw: bytes) -> bool:
    """The core's looks_like_bounce on the raw mail; False when its headers can't be read."""
    try:
        if not might_be_bounce(raw):  # the headers alone rule out nearly every mail: no body parse
            return False
        return looks_like_bounce(email.message_from_bytes(raw, policy=email.policy.compat32))
    except Exception:  # as above
        log.warning("could not read a message's headers", exc_info=True)
        return False


def _subject(raw: bytes) -> str:
    """The decoded Subject, for admins; "" when it can't be read."""
    try:
        msg = email.message_from_bytes(raw, policy=email.policy.compat32)
        return decode_header_value(str(msg.get("subject", "")))
    except Exception:  # as above
        log.warning("could not read a message's subject", exc_info=True)
        return ""


def _addresses(found: frozenset[bytes]) -> tuple[str, ...]:
    """flufl's byte addresses -> lower-case str, sorted (its sets have no order)."""
    return tuple(sorted({item.decode("utf-8", "replace").strip().lower() for item in found if item.strip()}))
