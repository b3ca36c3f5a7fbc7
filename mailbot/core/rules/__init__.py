"""Robot-detection rules: one rule, one file, one question (see chain.py for their order)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mailbot.core.model import InboundMessage, RuleContext


@dataclass(frozen=True)
class Rule:
    """A named check: returns the human reason when the message is a machine's, else None."""

    name: str
    description: str
    check: Callable[[InboundMessage, RuleContext], str | None]
