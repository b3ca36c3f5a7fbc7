"""Rule: list and bulk mail (RFC 2369/2919 List-* headers, Precedence)."""

from __future__ import annotations

from mailbot.core.model import InboundMessage, RuleContext
from mailbot.core.rules import Rule

_BULK = frozenset({"bulk", "junk", "list", "auto_reply"})


def check(msg: InboundMessage, ctx: RuleContext) -> str | None:  # noqa: ARG001
    """Any List-* header (List-Id, List-Unsubscribe, ...) or Precedence: bulk|junk|list|auto_reply."""
    for name in sorted(msg.header_names()):
        if name.startswith("list-"):
            return f"mailing list header {name}"
    precedence = (msg.header("precedence") or "").strip().lower()
    if precedence in _BULK:
        return f"Precedence: {precedence}"
    return None


RULE = Rule("mailing-list", "list or bulk mail", check)
