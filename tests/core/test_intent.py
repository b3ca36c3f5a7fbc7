"""Intents: cancel, status and register words in German and English; quoted text never counts."""

from __future__ import annotations

import pytest

from mailbot.core.intent import detect
from mailbot.core.model import InboundMessage, Intent


def message(subject: str, text: str = "") -> InboundMessage:
    """A human mail with this subject and body."""
    return InboundMessage(
        subject=subject,
        sender=None,
        message_id=None,
        in_reply_to=(),
        references=(),
        headers=(("subject", subject),),
        text=text,
    )


@pytest.mark.parametrize(
    ("subject", "text", "expected"),
    [
        ("Abmeldung Digitalisierung 08.10.", "", Intent.CANCEL),
        ("Digitalisierung 08.10.", "Ich möchte mich abmelden.", Intent.CANCEL),
        ("Digitalisierung 08.10.", "Bitte stornieren Sie meine Anmeldung.", Intent.CANCEL),
        ("Digitalisierung 08.10.", "Ich muss leider absagen.", Intent.CANCEL),
        ("Digitalisierung 08.10.", "Hiermit melde ich mich ab", Intent.CANCEL),
        ("Digitalisierung 08.10.", "Please cancel my registration", Intent.CANCEL),
        ("unsubscribe Digitalisierung 08.10.", "", Intent.CANCEL),
        ("Status Digitalisierung 08.10.", "", Intent.STATUS),
        ("Digitalisierung 08.10.", "Wie ist der Stand?", Intent.STATUS),
        ("Digitalisierung 08.10.", "Habe ich einen Platz?", Intent.STATUS),
        ("Digitalisierung 08.10.", "Ich melde mich hiermit an.", Intent.REGISTER),
        ("Anmeldung", "Digitalisierung 08.10.", Intent.REGISTER),
        ("Digitalisierung 08.10.", "Habe ich mich schon angemeldet?", Intent.REGISTER),
        (
            "Digitalisierung 08.10.",
            "Anmeldung\n\nAm 1.10. schrieb Stadt:\n> Abmeldung per Mail",
            Intent.REGISTER,
        ),
        ("Digitalisierung 08.10.", "Gerne!\n> Status: bestätigt", Intent.REGISTER),
        (
            "Digitalisierung 08.10.",
            "Ich melde mich an. Kann ich mich später wieder abmelden?",
            Intent.REGISTER,
        ),
        ("Digitalisierung 08.10.", "Ich kann leider nicht teilnehmen.", Intent.CANCEL),
        (
            "Digitalisierung 08.10.",
            "Danke\nVon: Digitalisierung\nGesendet: Montag\nAbmeldung per Mail",
            Intent.REGISTER,
        ),
    ],
)
def test_intent_with_keyword(subject: str, text: str, expected: Intent) -> None:
    """With the keyword, cancel beats status beats register; quoted words don't count."""
    in_subject = "08.10" in subject
    in_body = "08.10" in text.split("\n", maxsplit=1)[0]
    assert (
        detect(
            message(subject, text),
            keyword_in_body=in_body,
            keyword_in_subject=in_subject,
            replies_to_us=False,
        )
        is expected
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [("Abmeldung", Intent.CANCEL), ("Status?", Intent.STATUS), ("Danke!", None), ("Vielen Dank", None)],
)
def test_intent_in_a_reply_to_our_mail(text: str, expected: Intent | None) -> None:
    """Answering our mail, cancel/status words count; a thank-you (keyword only in 'Re:') is left alone."""
    got = detect(
        message("Re: Digitalisierung 08.10.", text),
        keyword_in_body=False,
        keyword_in_subject=True,
        replies_to_us=True,
    )
    assert got is expected


def test_cancel_word_without_keyword_or_reply_is_not_our_business() -> None:
    """'Abmeldung' from the newsletter world (no keyword, not a reply to us) is left for staff."""
    assert (
        detect(
            message("Abmeldung Newsletter"),
            keyword_in_body=False,
            keyword_in_subject=False,
            replies_to_us=False,
        )
        is None
    )
