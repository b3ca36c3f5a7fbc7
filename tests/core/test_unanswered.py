"""Why a human mail gets no reply: one reason per case, in words staff understand."""

from __future__ import annotations

from dataclasses import replace

import pytest

from mailbot.core import chain
from mailbot.core.rules.own_mail import MESSAGE_ID_MARK
from mailbot.core.unanswered import why_not_registration
from tests.core.test_chain import CTX, KEYWORDS, message

OURS = f"<abc{MESSAGE_ID_MARK}stadt.example>"


@pytest.mark.parametrize(
    ("subject", "text", "reply", "expected"),
    [
        pytest.param(
            "Re: Digitalisierung 08.10.",
            "Danke!",
            True,
            "names digi only in the subject of a reply to our mail, and its own text asks for nothing",
            id="thanks-reply",
        ),
        pytest.param(
            "Re: Ihre Anmeldung", "Danke!", True, "a reply to our mail, and its own text", id="reply"
        ),
        pytest.param(
            "Frage",
            "Wann beginnt es?\n\nAm 1.9. schrieb Stadt:\n> Digitalisierung 08.10.",
            False,
            "names digi only in quoted text or below the first 10 lines",
            id="keyword-quoted",
        ),
        pytest.param(
            "Frage", "Wo parke ich?", False, "names no event's keyword (subject, first lines", id="no-keyword"
        ),
    ],
)
def test_each_case_has_its_reason(subject: str, text: str, reply: bool, expected: str) -> None:
    """The classification's case decides the words; the keyword named (or not) is in them."""
    msg = message(subject=subject, text=text)
    if reply:
        msg = replace(msg, in_reply_to=(OURS,))
    verdict = chain.classify(msg, CTX, KEYWORDS)
    assert verdict.intent is None
    assert expected in why_not_registration(verdict, msg, KEYWORDS.patterns)


def test_cancel_reply_to_a_mail_of_no_configured_event() -> None:
    """'Abmeldung' answering our mail whose event is gone: the reason says so, not just 'not our business'."""
    msg = replace(message(subject="Re: Ihre Anmeldung", text="Abmeldung"), in_reply_to=(OURS,))
    verdict = chain.classify(msg, CTX, KEYWORDS)
    why = why_not_registration(verdict, msg, KEYWORDS.patterns)
    assert why.startswith("a cancel word in a reply to our mail, but the mail it answers belongs to no ")
