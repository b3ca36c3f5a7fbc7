"""Rule: a delivery status notification (RFC 3464 multipart/report; report-type=delivery-status)."""

from __future__ import annotations

import re

from mailbot.core.model import InboundMessage, RuleContext
from mailbot.core.rules import Rule

_REPORT = re.compile(
    r"multipart/report\s*;.*report-type\s*=\s*\"?(delivery-status|disposition-notification)",
    re.IGNORECASE | re.DOTALL,
)


def check(msg: InboundMessage, ctx: RuleContext) -> str | None:  # noqa: ARG001
    """A DSN (bounce) or MDN (read receipt) report is a machine's message."""
    ctype = msg.header("content-type") or ""
    found = _REPORT.search(ctype)
    if found:
        return f"multipart/report ({found.group(1).lower()})"
    return None


RULE = Rule("delivery-report", "delivery status or disposition report", check)
