"""Rule: our own mail came back (a loop): our address, our loop header or our Message-ID."""

from __future__ import annotations

from mailbot.core.model import InboundMessage, RuleContext
from mailbot.core.rules import Rule

LOOP_HEADER = "x-mailbot-status"
MESSAGE_ID_MARK = ".mailbot@"


def is_own_message_id(message_id: str, ctx: RuleContext) -> bool:
    """Message-IDs the bot generates look like ``<hex.mailbot@own-domain>``."""
    return message_id.lower().endswith(f"{MESSAGE_ID_MARK}{ctx.own_domain.lower()}>")


def check(msg: InboundMessage, ctx: RuleContext) -> str | None:
    """From is the bot's own address, or the message carries X-Mailbot-Status, or our Message-ID."""
    if msg.sender is not None and msg.sender.address.lower() in ctx.own_addresses:
        return "sent from the bot's own address"
    if msg.has_header(LOOP_HEADER):
        return "carries the bot's own X-Mailbot-Status header"
    if msg.message_id and is_own_message_id(msg.message_id, ctx):
        return "carries a Message-ID the bot generated"
    return None


RULE = Rule("own-mail", "the bot's own mail coming back (mail loop)", check)
