"""What a person wants: register, cancel or ask for their status (German and English words)."""

from __future__ import annotations

import re

from mailbot.core.keyword import first_lines, normalize
from mailbot.core.model import InboundMessage, Intent

_CANCEL = re.compile(
    r"(?<!\w)(abmeldung|abmelden|abgemeldet|stornieren|stornierung|storno|absagen|absage|"
    r"(melde|melden)\s+(ich\s+|wir\s+)?(mich|uns)\s+((hiermit|wieder|doch)\s+)*ab|"
    r"sage\s+(ich\s+)?(hiermit\s+)?(leider\s+)?ab|"
    r"nicht\s+(teilnehmen|kommen)|cancel|cancellation|unsubscribe|withdraw|can'?not\s+attend|can't\s+attend)(?!\w)"
)
# Someone who both registers and mentions cancelling ("Kann ich mich später wieder abmelden?") keeps the
# seat: a wrong registration is easily undone, a wrong cancellation gives the seat away for good.
_REGISTER = re.compile(
    r"(?<!\w)((melde|melden)\s+(ich\s+|wir\s+)?(mich|uns)\s+(\w+\s+){0,3}?an(?!\w)|anmelden|"
    r"(möchte|moechte|würde|wuerde|werde)\s+(\w+\s+){0,3}?teilnehmen|i\s+would\s+like\s+to\s+(register|attend)|"
    r"please\s+register\s+me)"
)
_STATUS = re.compile(r"(?<!\w)(status|stand(?!\w)|platz\s*\?|position\s*\?|warteliste\s*\?)")


def _without_negations(text: str) -> str:
    """Remove "nicht ... teilnehmen/anmelden" phrases, which are cancellations, not registrations."""
    return re.sub(r"(?<!\w)(nicht|nie|kein\w*)\s+(\w+\s+){0,3}?(teilnehmen|anmelden)", " ", text)


def words(msg: InboundMessage) -> str:
    """The text intents are read from: the subject and the first lines of the sender's own words."""
    return normalize(f"{msg.subject}\n{first_lines(msg.text)}")


def detect(
    msg: InboundMessage, *, keyword_in_body: bool, keyword_in_subject: bool, replies_to_us: bool
) -> Intent | None:
    """The intent of a human mail, or None when it isn't the desk's business.

    With the event's keyword (subject or body) any intent counts. In a reply to one of our own mails, cancel
    and status words count; a registration then needs the keyword in the sender's own text, so a "Danke!"
    answering our confirmation (whose subject carries the keyword) is left for staff.
    """
    text = words(msg)
    keyword = keyword_in_body or keyword_in_subject
    if _CANCEL.search(text) and (keyword or replies_to_us) and not _REGISTER.search(_without_negations(text)):
        return Intent.CANCEL
    if _STATUS.search(text) and (keyword or replies_to_us):
        return Intent.STATUS
    if keyword_in_body or (keyword_in_subject and not replies_to_us):
        return Intent.REGISTER
    return None
