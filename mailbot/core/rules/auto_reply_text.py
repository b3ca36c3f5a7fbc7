"""Rule: out-of-office replies and bounces without headers, recognised as a postmaster would: by words."""

from __future__ import annotations

import re

from mailbot.core.keyword import own_text
from mailbot.core.model import InboundMessage, RuleContext
from mailbot.core.rules import Rule

# Subjects (and display names) of auto-replies and bounces from Exchange/Outlook, Gmail, Postfix, Exim,
# qmail, Sieve vacation, GMX/Web.de/T-Online, in German and English.
_SUBJECT = re.compile(
    r"^\s*(automatische antwort|automatic reply|auto(matic)?[- ]?reply|autoreply|abwesenheitsnotiz|"
    r"abwesend|out of (the )?office|ooo\b|urlaubsabwesenheit|ich bin (zurzeit|derzeit|momentan|nicht)|"
    r"i am (out|away)|vacation|abwesenheit|mail delivery failed|undeliverable|unzustellbar|"
    r"nicht zustellbar|delivery status notification|returned mail|undelivered mail|"
    r"delivery failure|failure notice|mail delivery (system|subsystem)|warning: message|"
    r"benachrichtigung zum (übermittlungsstatus|zustellstatus)|non[- ]?delivery)",
    re.IGNORECASE,
)
_SENDER_NAME = re.compile(r"mail delivery (subsystem|system)|mailer.daemon|postmaster", re.IGNORECASE)
_BODY = re.compile(
    r"(ich bin (bis|vom|zurzeit|derzeit|momentan) .{0,60}(abwesend|nicht im (büro|hause)|im urlaub)|"
    r"i am (currently )?out of (the )?office|this is an automatic(ally generated)? (reply|message)|"
    r"dies ist eine automatische (antwort|nachricht)|"
    r"this message was created automatically by mail delivery software|"
    r"could not be delivered to one or more recipients|"
    r"diese nachricht wurde automatisch)",
    re.IGNORECASE,
)


def check(msg: InboundMessage, ctx: RuleContext) -> str | None:  # noqa: ARG001
    """Subject prefix, sender display name, or the first lines of the body of a typical auto-reply/bounce."""
    if _SUBJECT.search(msg.subject):
        return f"auto-reply subject {msg.subject[:40]!r}"
    if msg.sender and _SENDER_NAME.search(msg.sender.name):
        return f"auto-reply sender name {msg.sender.name[:40]!r}"
    # Only the sender's own words: a person quoting or forwarding an automatic message is still a person.
    head = " ".join(line.strip() for line in own_text(msg.text).splitlines()[:15] if line.strip())
    found = _BODY.search(head)
    if found:
        return f"auto-reply text {found.group(0)[:40]!r}"
    return None


RULE = Rule("auto-reply-text", "auto-reply or bounce recognised by its words", check)
