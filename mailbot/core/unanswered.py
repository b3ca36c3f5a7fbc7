"""Why a human mail is not the desk's business, in words for staff (the ledger's reason, `inspect`)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from mailbot.core import keyword
from mailbot.core.model import Classification, InboundMessage

_ASKS_FOR_NOTHING = "its own text asks for nothing (no keyword, no cancel or status word)"


def why_not_registration(
    verdict: Classification, msg: InboundMessage, patterns: Sequence[tuple[str, re.Pattern[str]]]
) -> str:
    """The reason a mail that no robot rule caught gets no reply, by the case that applies:

    - it names a keyword only in the subject of a reply to one of our mails, with nothing asked in its own
      text ("Danke!" answering our confirmation, whose subject carries the keyword);
    - it answers one of our mails with a cancel or status word, but that mail's event is not configured
      (any more) or its record was erased;
    - it answers one of our mails and asks for nothing;
    - it names no keyword where the desk looks (subject, first lines of the sender's own text), perhaps
      only in quoted text or further down.
    """
    events = ", ".join(verdict.event_ids)
    if verdict.event_ids and verdict.our_references and verdict.intent is None:
        return (
            f"names {events} only in the subject of a reply to our mail, and {_ASKS_FOR_NOTHING}: for staff"
        )
    if verdict.our_references and verdict.intent is not None:
        return (
            f"a {verdict.intent.value} word in a reply to our mail, but the mail it answers belongs to no "
            "configured event on record (event removed from the config, or its data erased): for staff"
        )
    if verdict.our_references:
        return f"a reply to our mail, and {_ASKS_FOR_NOTHING}: for staff"
    elsewhere = [key for key, pattern in patterns if pattern.search(keyword.fold(msg.text))]
    if elsewhere:
        return (
            f"names {', '.join(elsewhere)} only in quoted text or below the first {keyword.BODY_LINES} "
            "lines, not in the subject or the sender's own first lines: not the desk's business"
        )
    return "names no event's keyword (subject, first lines of the sender's own text): not the desk's business"
