"""Rule: a delivery status notification (RFC 3464 multipart/report; report-type=delivery-status)."""

from __future__ import annotations

import re

from mailbot.core.model import InboundMessage, RuleContext
from mailbot.core.rules import Rule

# Searched only after the media type, which is read without a pattern: ``multipart/report\s*;.*report-type``
# backtracked over the rest of the value once per "multipart/report;" in it (quadratic on a crafted header).
_REPORT_TYPE = re.compile(r"report-type\s*=\s*\"?(delivery-status|disposition-notification)", re.IGNORECASE)


def check(msg: InboundMessage, ctx: RuleContext) -> str | None:  # noqa: ARG001
    """A DSN (bounce) or MDN (read receipt) report is a machine's message."""
    ctype = msg.header("content-type") or ""
    media_type, sep, params = ctype.partition(";")
    if not sep or media_type.strip().lower() != "multipart/report":
        return None
    found = _REPORT_TYPE.search(params)
    if found:
        return f"multipart/report ({found.group(1).lower()})"
    return None


RULE = Rule("delivery-report", "delivery status or disposition report", check)
