"""flufl.bounce: recipients of non-standard bounces (qmail, Exim, Exchange texts); the only importer of it."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import logging
from email.message import Message

from flufl.bounce import all_failures, scan_message

from mailbot.core.bounce import BounceReport, looks_like_bounce, read_bounce
from mailbot.core.model import RuleContext
from mailbot.core.parse import decode_header_value

log = logging.getLogger(__name__)


def bounced_addresses(raw: bytes) -> tuple[str, ...]:
    """The addresses flufl.bounce reads as failing for good, lower-case and sorted; () on any error."""
    try:
        found = scan_message(_parse(raw))
    except Exception:  # its detectors are heuristics over hostile text: a pass must go on
        log.warning("flufl.bounce failed on a message", exc_info=True)
        return ()
    return _addresses(found)


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
    if report is not None and report.failed_recipients:
        return report
    found = _failures(raw, require_bounce=report is None)
    if found is None:
        return report
    temporary, permanent, subject = found
    if report is not None:
        if not (permanent or temporary):
            return report
        return dataclasses.replace(
            report,
            failed_recipients=permanent or temporary,
            permanent=bool(permanent) or (report.permanent and not temporary),
        )
    if not permanent:
        return None  # only warnings (or nothing), and none of ours: nothing to record
    return BounceReport(our_message_ids=(), failed_recipients=permanent, permanent=True, diagnostic=subject)


def _failures(raw: bytes, *, require_bounce: bool) -> tuple[tuple[str, ...], tuple[str, ...], str] | None:
    """(temporary, permanent, subject) as flufl.bounce reads the mail; None when it isn't asked or fails.

    Without a finding of the core's, flufl is only asked about mail that presents itself as a bounce:
    its heuristics would find "failing" addresses in a citizen's ordinary mail now and then.
    """
    try:
        msg = _parse(raw)
        if require_bounce and not looks_like_bounce(msg):
            return None
        temporary, permanent = all_failures(msg)
        subject = decode_header_value(str(msg.get("subject", "")))
    except Exception:  # as above: never let a detector stop a pass
        log.warning("flufl.bounce failed on a message", exc_info=True)
        return None
    return _addresses(temporary), _addresses(permanent), subject


def _parse(raw: bytes) -> Message:
    return email.message_from_bytes(raw, policy=email.policy.compat32)


def _addresses(found: frozenset[bytes]) -> tuple[str, ...]:
    """flufl's byte addresses -> lower-case str, sorted (its sets have no order)."""
    return tuple(sorted({item.decode("utf-8", "replace").strip().lower() for item in found if item.strip()}))
