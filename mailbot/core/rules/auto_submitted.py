"""Rule: the message says it was generated automatically (RFC 3834 §5 Auto-Submitted)."""

from __future__ import annotations

from mailbot.core.model import InboundMessage, RuleContext
from mailbot.core.rules import Rule


def check(msg: InboundMessage, ctx: RuleContext) -> str | None:  # noqa: ARG001
    """Any Auto-Submitted value but "no" (auto-generated, auto-replied, auto-notified, ...) is a machine."""
    value = msg.header("auto-submitted")
    if value is None:
        return None
    keyword = value.split(";")[0].strip().lower()
    if keyword in ("", "no"):
        return None
    return f"Auto-Submitted: {keyword}"


RULE = Rule("auto-submitted", "Auto-Submitted header other than 'no' (RFC 3834)", check)
