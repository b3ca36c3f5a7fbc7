"""Rule: vendor headers that mark automatic responses (Exchange, various vacation programs)."""

from __future__ import annotations

from mailbot.core.model import InboundMessage, RuleContext
from mailbot.core.rules import Rule

_SUPPRESS = frozenset({"all", "oof", "autoreply"})


def check(msg: InboundMessage, ctx: RuleContext) -> str | None:  # noqa: ARG001
    """X-Auto-Response-Suppress with All/OOF/AutoReply; any X-Autoreply or X-Autorespond header."""
    suppress = msg.header("x-auto-response-suppress")
    if suppress:
        values = {v.strip().lower() for v in suppress.split(",")}
        hit = sorted(values & _SUPPRESS)
        if hit:
            return f"X-Auto-Response-Suppress: {', '.join(hit)}"
    for name in ("x-autoreply", "x-autorespond"):
        if msg.has_header(name):
            return f"{name} header"
    return None


RULE = Rule("auto-response-headers", "vendor auto-response headers", check)
