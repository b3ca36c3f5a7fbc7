"""The rule chain: every rule runs and is recorded, the first robot hit decides, then the keywords."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailbot.core import chain
from mailbot.core.model import Address, Classification, Event, InboundMessage, Intent, RuleContext, RuleHit
from mailbot.core.parse import MessageParseError, parse_message

CTX = RuleContext(own_addresses=frozenset({"anmeldung@stadt.example"}), own_domain="stadt.example")
EVENTS = [
    Event("digi", "Digitalisierung", "Digitalisierung 08.10.", 30, datetime(2020, 10, 8, 16, tzinfo=UTC)),
    Event("budget", "Bürgerbudget", "Bürgerbudget 12.03.", 50, datetime(2021, 3, 12, 17, tzinfo=UTC)),
]
KEYWORDS = chain.Keywords(EVENTS)
RULE_NAMES = [rule.name for rule in chain.MACHINE_RULES]
HANS = Address("Hans Müller", "hans.mueller@example.org")


def message(
    subject: str = "Digitalisierung 08.10.",
    text: str = "Hallo,\nich melde mich an.\n",
    sender: Address | None = HANS,
    headers: tuple[tuple[str, str], ...] = (),
    message_id: str | None = "<4711@example.org>",
) -> InboundMessage:
    """An InboundMessage as the parser would produce it."""
    return InboundMessage(
        subject=subject,
        sender=sender,
        message_id=message_id,
        in_reply_to=(),
        references=(),
        headers=(("subject", subject), *headers),
        text=text,
    )


def accounts_for_every_rule(verdict: Classification) -> bool:
    """Each robot rule is recorded exactly once, as a hit or a miss."""
    recorded = [hit.rule for hit in verdict.hits if not hit.rule.startswith("keyword:")]
    recorded += [name for name in verdict.misses if name != "keyword"]
    return sorted(recorded) == sorted(RULE_NAMES)


def test_registration_records_keyword_hit_and_all_misses() -> None:
    """A citizen's keyword mail is a registration; every robot rule is listed as a miss."""
    verdict = chain.classify(message(), CTX, KEYWORDS)
    assert verdict == Classification(
        machine=None,
        event_ids=("digi",),
        hits=(RuleHit("keyword:digi", "keyword of digi in the subject"),),
        misses=tuple(RULE_NAMES),
        intent=Intent.REGISTER,
    )
    assert verdict.is_registration


def test_keyword_in_body_is_reported_as_body() -> None:
    """The recorded reason says the keyword was found in the body."""
    verdict = chain.classify(message(subject="Anmeldung", text="Bürgerbudget 12.3"), CTX, KEYWORDS)
    assert verdict.hits == (RuleHit("keyword:budget", "keyword of budget in the body"),)


def test_no_keyword_is_not_a_registration() -> None:
    """A human mail without any event's keyword is staff's business; the missing keyword is recorded."""
    verdict = chain.classify(
        message(subject="Frage zum Parkplatz", text="Wo kann ich parken?"), CTX, KEYWORDS
    )
    assert not verdict.is_registration
    assert verdict.machine is None
    assert verdict.event_ids == ()
    assert verdict.misses == (*RULE_NAMES, "keyword")


def test_several_events_in_one_mail() -> None:
    """A mail naming two events' keywords registers for both, in configuration order."""
    verdict = chain.classify(message(subject="Bürgerbudget 12.3. und Digitalisierung 8.10."), CTX, KEYWORDS)
    assert verdict.event_ids == ("digi", "budget")
    assert verdict.is_registration


def test_machine_wins_over_keyword() -> None:
    """A robot hit makes a keyword mail a machine's: no registration, but the keyword is still recorded."""
    verdict = chain.classify(message(headers=(("auto-submitted", "auto-replied"),)), CTX, KEYWORDS)
    assert verdict.machine == RuleHit("auto-submitted", "Auto-Submitted: auto-replied")
    assert verdict.event_ids == ("digi",)
    assert not verdict.is_registration


def test_bounce_records_every_hit_and_the_first_decides() -> None:
    """All rules run: a bounce hitting several is recorded with each hit, the first in chain order decides."""
    bounce = message(
        subject="Undeliverable: Digitalisierung 08.10.",
        sender=Address("Mail Delivery Subsystem", "MAILER-DAEMON@mx.example.org"),
        headers=(
            ("return-path", "<>"),
            ("content-type", "multipart/report; report-type=delivery-status; boundary=x"),
        ),
    )
    verdict = chain.classify(bounce, CTX, KEYWORDS)
    robot_hits = [hit.rule for hit in verdict.hits if not hit.rule.startswith("keyword:")]
    assert robot_hits == ["null-sender", "delivery-report", "robot-sender", "auto-reply-text"]
    assert verdict.machine is not None
    assert verdict.machine.rule == "null-sender"
    assert accounts_for_every_rule(verdict)


def test_own_mail_is_reported_first() -> None:
    """Our own reply coming back is reported as a loop before any other robot reason."""
    loop = message(
        subject="Re: Digitalisierung 08.10.",
        sender=Address("Anmeldung", "anmeldung@stadt.example"),
        headers=(("auto-submitted", "auto-replied"), ("x-mailbot-status", "confirmed")),
        message_id="<abc123.mailbot@stadt.example>",
    )
    verdict = chain.classify(loop, CTX, KEYWORDS)
    assert verdict.machine is not None
    assert verdict.machine.rule == "own-mail"


def test_keywords_are_compiled_per_event() -> None:
    """Keywords holds one compiled pattern per configured event, keyed by the event id."""
    assert [event_id for event_id, _ in KEYWORDS.patterns] == ["digi", "budget"]


# --- property: classify never raises ------------------------------------------------------------------------

TEXT = st.text(max_size=200) | st.sampled_from(
    [
        "Digitalisierung 08.10.",
        "Re: AW: „Bürgerbudget“ 12.3",
        "Automatische Antwort:",
        "> Digitalisierung 8.10",
    ]
)
HEADERS = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "auto-submitted",
                "return-path",
                "content-type",
                "precedence",
                "list-id",
                "x-auto-response-suppress",
                "x-mailbot-status",
                "x-autoreply",
                "from",
            ]
        )
        | st.text(max_size=20),
        TEXT,
    ),
    max_size=6,
)
SENDERS = st.none() | st.builds(Address, st.text(max_size=40), st.text(max_size=40))


@settings(max_examples=200, deadline=None)
@given(TEXT, TEXT, SENDERS, HEADERS, st.none() | st.text(max_size=60))
def test_classify_never_raises_on_any_message(
    subject: str, text: str, sender: Address | None, headers: list[tuple[str, str]], message_id: str | None
) -> None:
    """classify() accepts any InboundMessage and accounts for every rule."""
    msg = message(subject=subject, text=text, sender=sender, headers=tuple(headers), message_id=message_id)
    verdict = chain.classify(msg, CTX, KEYWORDS)
    assert accounts_for_every_rule(verdict)
    assert set(verdict.event_ids) <= {"digi", "budget"}


TEMPLATE = (
    "From: =?utf-8?q?M=C3=BCller=2C_Hans?= <hans@example.org>\n"
    "Subject: AW: =?iso-8859-1?q?B=FCrgerbudget?= 12.3.\n"
    "Auto-Submitted: no\n"
    "Content-Type: text/html; charset=utf-8\n\n"
    "<table><tr><td>Digitalisierung</td><td>08.10.</td></tr></table>\n"
    "Am 01.10.2020 schrieb Stadt <a@stadt.example>:\n> Automatische Antwort\n"
)


@st.composite
def mutated_template(draw: st.DrawFn) -> str:
    """The template mail with a few characters deleted or arbitrary text inserted."""
    text = TEMPLATE
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(text)))
        if draw(st.booleans()):
            text = text[:at] + text[at + draw(st.integers(1, 5)) :]
        else:
            text = text[:at] + draw(st.text(min_size=1, max_size=10)) + text[at:]
    return text


@st.composite
def built_from_text(draw: st.DrawFn) -> str:
    """A mail whose subject, sender name, content type and body are arbitrary text."""
    subject, name, body = draw(TEXT), draw(TEXT), draw(TEXT)
    ctype = draw(
        st.sampled_from(["text/plain", "text/html", "multipart/report; report-type=delivery-status"])
    )
    return f"From: {name} <x@example.org>\nSubject: {subject}\nContent-Type: {ctype}\n\n{body}"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(built_from_text() | mutated_template())
def test_classify_never_raises_on_parsed_text(raw: str) -> None:
    """Mails built from arbitrary or mutated text, once parsed, are always classified."""
    try:
        msg = parse_message(raw.encode("utf-8", "surrogateescape"))
    except MessageParseError:
        return
    assert accounts_for_every_rule(chain.classify(msg, CTX, KEYWORDS))
