"""Rule: the sender's local part is one that only machines use (Mailman/Pigeonhole practice)."""

from __future__ import annotations

import re

from mailbot.core.model import InboundMessage, RuleContext
from mailbot.core.rules import Rule

_ROBOT_LOCAL_PARTS = re.compile(
    r"^(mailer-daemon|postmaster|listserv|majordomo|mdaemon|mail-daemon|bounces?|"
    r"no[-_.]?reply|do[-_.]?not[-_.]?reply|noreply[-_.].*|.*[-_.]noreply|.+-request|owner-.+|.+-owner|"
    r".+-bounces?(\+.*)?)$",
    re.IGNORECASE,
)


def check(msg: InboundMessage, ctx: RuleContext) -> str | None:  # noqa: ARG001
    """MAILER-DAEMON, postmaster, LISTSERV, majordomo, *-request, owner-*, noreply/no-reply/donotreply."""
    if msg.sender is None:
        return None
    local = msg.sender.address.rsplit("@", 1)[0]
    if _ROBOT_LOCAL_PARTS.match(local):
        return f"robot sender {local}@…"
    return None


RULE = Rule("robot-sender", "sender local part used only by machines", check)
