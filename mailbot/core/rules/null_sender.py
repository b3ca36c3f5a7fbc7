"""Rule: the envelope sender is empty, as in bounces and other notifications (RFC 5321 §4.5.5)."""

from __future__ import annotations

from mailbot.core.model import InboundMessage, RuleContext
from mailbot.core.rules import Rule


def check(msg: InboundMessage, ctx: RuleContext) -> str | None:  # noqa: ARG001
    """``Return-Path: <>`` means "never answer me" (RFC 3834 §4 answers go to the Return-Path)."""
    for name, value in msg.headers:
        if name == "return-path" and value.replace(" ", "") == "<>":
            return "Return-Path: <> (null sender)"
    return None


RULE = Rule("null-sender", "empty Return-Path (bounce or notification)", check)
