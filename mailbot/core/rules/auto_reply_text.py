"""Rule: out-of-office replies and bounces without headers, recognised as a postmaster would: by words."""

from __future__ import annotations

import re

from mailbot.core.keyword import own_text
from mailbot.core.model import InboundMessage, RuleContext
from mailbot.core.rules import Rule

# Subject prefixes of auto-replies and bounces (Exchange/Outlook, Gmail, Postfix, Exim, qmail, Yahoo, Lotus
# Notes, Unix vacation, GMX/Web.de/T-Online), German and English. Anchored at the start, and "Ich bin" only
# with an absence: "Ich bin dabei!" and "Ich bin nicht sicher, ob ..." are people.
_SUBJECT = re.compile(
    r"^\s*(automatische antwort|automatic reply|auto(matic)?[- ]?reply|autoreply|abwesenheitsnotiz|"
    r"abwesend|out of (the )?office|ooo\b|urlaubsabwesenheit|i am (out|away)\b|vacation|abwesenheit|"
    r"ich bin (zurzeit |derzeit |momentan )?(nicht (im büro|im hause|erreichbar)|abwesend|im urlaub)|"
    r"away from (my )?(mail|office|desk)|mail delivery failed|undeliverable|unzustellbar|"
    r"nicht zustellbar|delivery status notification|returned mail|undelivered mail|"
    r"delivery failure|failure notice|mail delivery (system|subsystem)|warning: message|"
    r"benachrichtigung zum (übermittlungsstatus|zustellstatus)|non[- ]?delivery)",
    re.IGNORECASE,
)
_SENDER_NAME = re.compile(r"mail delivery (subsystem|system)|mailer.daemon|postmaster", re.IGNORECASE)
# Sentences only software writes (Exim, Postfix, qmail, Yahoo, Exchange, Gmail bounces; self-declared
# auto-replies): one is enough.
_MACHINE_TEXT = re.compile(
    r"this is an automatic(ally generated)? (reply|message)|dies ist eine automatische (antwort|nachricht)|"
    r"diese nachricht wurde automatisch|this message was created automatically by mail delivery software|"
    r"could not be delivered to one or more (of its )?recipients|this is the mail system at host|"
    r"this is the qmail-send program|sorry, we were unable to deliver your message|"
    r"delivery has failed to these recipients|zustellung an folgende empfänger .{0,20}fehlgeschlagen|"
    r"ihre nachricht wurde nicht an \S+ zugestellt|your message (wasn't|was not) delivered to",
    re.IGNORECASE,
)
# "Away until <date>" (GMX/Web.de/T-Online, Lotus Notes, Outlook templates). A date is required after
# bis/vom/ab, so "Ich bin bis 17 Uhr nicht erreichbar" stays a person's sentence ...
_ABSENT = re.compile(
    r"ich (bin|werde) (zurzeit|derzeit|momentan|(bis|vom|von|ab|seit)\b.{0,30}?\d{1,2}\.\s?(\d{1,2}\.|[a-z]))"
    r".{0,60}?(abwesend|nicht im (büro|hause|dienst)|außer haus|nicht erreichbar|im urlaub)|"
    r"i(?: am|'m| will be) (currently )?(out of (the )?office|away from (the|my) (office|desk)|"
    r"on (annual |parental )?leave|on (vacation|holiday))",
    re.IGNORECASE,
)
# ... and a sentence that also registers is a citizen's: "bin bis 7.10. im Urlaub, melde mich aber an".
_LINE_CAP = 1000
_REGISTERS = re.compile(r"anmeld|melde (mich|uns)\b.{0,40}?\ban\b|teilnehm|register|sign (me |us )?up", re.I)


def check(msg: InboundMessage, ctx: RuleContext) -> str | None:  # noqa: ARG001
    """Subject prefix, sender display name, or the first lines of the body of a typical auto-reply/bounce."""
    if _SUBJECT.search(msg.subject):
        return f"auto-reply subject {msg.subject[:40]!r}"
    if msg.sender and _SENDER_NAME.search(msg.sender.name):
        return f"auto-reply sender name {msg.sender.name[:40]!r}"
    # Only the sender's own words: a person quoting or forwarding an automatic message is still a person.
    # The first 15 lines, each cut at 1,000 characters: the sentences below are short, and _ABSENT tries
    # ~90 continuations per "ich bin" (a crafted megabyte of them cost seconds).
    lines = own_text(msg.text).splitlines()[:15]
    head = " ".join(line.strip()[:_LINE_CAP] for line in lines if line.strip())
    found = _MACHINE_TEXT.search(head) or (None if _REGISTERS.search(head) else _ABSENT.search(head))
    if found:
        return f"auto-reply text {found.group(0)[:40]!r}"
    return None


RULE = Rule("auto-reply-text", "auto-reply or bounce recognised by its words", check)
