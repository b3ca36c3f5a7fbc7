"""The rule chain: robot rules in order, then the events' keywords; every hit and miss is recorded."""

from __future__ import annotations

import re
from collections.abc import Sequence

from mailbot.core import intent, keyword
from mailbot.core.model import Classification, Event, InboundMessage, RuleContext, RuleHit
from mailbot.core.rules import (
    Rule,
    auto_reply_text,
    auto_response_headers,
    auto_submitted,
    delivery_report,
    mailing_list,
    null_sender,
    own_mail,
    robot_sender,
)

# Order matters only for which reason is reported first; all rules run so an admin sees every hit.
MACHINE_RULES: tuple[Rule, ...] = (
    own_mail.RULE,  # a loop is the most dangerous case: report it first
    auto_submitted.RULE,  # RFC 3834: the standard marker
    null_sender.RULE,  # bounces and notifications
    delivery_report.RULE,  # RFC 3464 DSN / RFC 8098 MDN
    robot_sender.RULE,  # MAILER-DAEMON, postmaster, noreply, list robots
    mailing_list.RULE,  # List-* and Precedence
    auto_response_headers.RULE,  # X-Auto-Response-Suppress, X-Autoreply
    auto_reply_text.RULE,  # no headers at all: recognise the words (last: heuristic)
)


class Keywords:
    """The compiled keyword patterns of the configured events, compiled once per configuration."""

    def __init__(self, events: Sequence[Event]) -> None:
        self.patterns: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
            (event.id, keyword.compile_keyword(event.keyword)) for event in events
        )


def classify(msg: InboundMessage, ctx: RuleContext, keywords: Keywords) -> Classification:
    """Run every robot rule, then look for the events' keywords; the first robot hit decides."""
    hits: list[RuleHit] = []
    misses: list[str] = []
    for rule in MACHINE_RULES:
        reason = rule.check(msg, ctx)
        if reason is None:
            misses.append(rule.name)
        else:
            hits.append(RuleHit(rule.name, reason))
    found = keyword.matching(keywords.patterns, msg.subject, msg.text)
    for event_id, where in found:
        hits.append(RuleHit(f"keyword:{event_id}", f"keyword of {event_id} in the {where}"))
    if not found:
        misses.append("keyword")
    machine = hits[0] if hits and not hits[0].rule.startswith("keyword:") else None
    ours = tuple(ref for ref in (*msg.in_reply_to, *msg.references) if own_mail.is_own_message_id(ref, ctx))
    wanted = None
    if machine is None:
        wanted = intent.detect(
            msg,
            keyword_in_body=any(where == "body" for _, where in found),
            keyword_in_subject=any(where == "subject" for _, where in found),
            replies_to_us=bool(ours),
        )
    return Classification(
        machine=machine,
        event_ids=tuple(event_id for event_id, _ in found),
        hits=tuple(hits),
        misses=tuple(misses),
        intent=wanted,
        our_references=tuple(dict.fromkeys(ours)),
    )
