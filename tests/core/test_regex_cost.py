"""Work on one mail is bounded by its size: every pattern and reader that sees mail content, on 1 MB of
the input that would make it backtrack or rescan, finishes well under a second (linear is ~10-50 ms)."""

from __future__ import annotations

import email
import email.policy
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailbot.adapters import bounces
from mailbot.core import authentication, bounce, chain, encoded_words, html_text, intent, keyword, replies
from mailbot.core.identity import content_hash
from mailbot.core.model import Address, Event, InboundMessage, RuleContext
from mailbot.core.parse import MessageParseError, body_text, parse_address, parse_message
from mailbot.core.rules import auto_reply_text, delivery_report, robot_sender

MB = 1_000_000
LIMIT = 1.0  # seconds of this process's CPU time; quadratic inputs took from 3 s to hours
CTX = RuleContext(frozenset({"digitalisierung@castrop-rauxel.de"}), "castrop-rauxel.de")
EVENTS = [
    Event("digitalisierung", "t", "Digitalisierung 08.10.", 5, datetime(2020, 10, 8, tzinfo=UTC)),
    Event("buergerbudget", "t", "Bürgerbudget Workshop", 5, datetime(2020, 10, 8, tzinfo=UTC)),
]
KEYWORDS = chain.Keywords(EVENTS)


def mb(unit: str, prefix: str = "", suffix: str = "") -> str:
    """`unit` repeated to 1 MB, between prefix and suffix."""
    return prefix + unit * (MB // len(unit)) + suffix


def message(subject: str = "Hallo", text: str = "", **headers: str) -> InboundMessage:
    """An InboundMessage built directly (no parse: the parser's own caps don't hide the pattern)."""
    fields = tuple((k.replace("_", "-").lower(), v) for k, v in headers.items())
    return InboundMessage(
        subject=subject,
        sender=Address("Max", "max@example.org"),
        message_id="<a@example.org>",
        in_reply_to=(),
        references=(),
        headers=(("subject", subject), *fields),
        text=text,
        content_type="text/plain",
    )


def cpu_seconds(work: Callable[[], object]) -> float:
    """The CPU time `work` takes in this process (other load on the machine doesn't count)."""
    start = time.process_time()
    work()
    return time.process_time() - start


def refused(raw: bytes) -> None:
    with pytest.raises(MessageParseError, match="Content-Type field with more than 100 parameters"):
        parse_message(raw)


def own_words(text: str) -> Callable[[], object]:
    return lambda: keyword.own_text(text + "\n")  # a new string each time: own_text caches by value


def pattern(compiled: re.Pattern[str], text: str) -> Callable[[], object]:
    return lambda: compiled.search(text)


# One case per pattern or reader that runs on mail content, with the input that makes it work hardest.
CASES: dict[str, Callable[[], object]] = {
    # keyword.py: quote headers ("Am ... schrieb ...:" was 27 s for 625 KiB), "On ... wrote:", Outlook, dashes
    "quote-header-am": own_words(mb("x schrieb ", "Am ")),
    "quote-header-am-geschrieben": own_words(mb("x geschrieben ", "Am ", ":x")),
    "quote-header-on": own_words(mb("x wrote: ", "On ")),
    "quote-header-from": own_words(mb("von: x ")),
    "quote-header-dashes": own_words(mb("-")),
    "quote-header-outlook-block": own_words(mb("Von: x\n")),
    "own-text-blank-lines": own_words(mb("\n")),
    "keyword-separators": lambda: keyword.mentions(
        KEYWORDS.patterns[0][1], mb("digitalisierung " + " -„" * 30), ""
    ),
    "keyword-date": lambda: keyword.mentions(KEYWORDS.patterns[0][1], mb("8 . "), ""),
    "keyword-umlaut": lambda: keyword.mentions(KEYWORDS.patterns[1][1], mb("buergerbudget "), ""),
    "keyword-body-one-line": lambda: keyword.first_lines(mb("digitalisierung")),
    # delivery_report.py: "multipart/report;" repeated in a Content-Type (was quadratic)
    "delivery-report": lambda: delivery_report.check(message(content_type=mb("multipart/report; ")), CTX),
    "delivery-report-params": lambda: delivery_report.check(
        message(content_type=mb("report-type ", "multipart/report; ")), CTX
    ),
    # auto_reply_text.py
    "auto-reply-subject": pattern(auto_reply_text._SUBJECT, mb("auto ")),
    "auto-reply-sender-name": pattern(auto_reply_text._SENDER_NAME, mb("mailer ")),
    "auto-reply-machine-text": lambda: auto_reply_text.check(
        message(text=mb("ihre nachricht wurde nicht an ")), CTX
    ),
    "auto-reply-absent": lambda: auto_reply_text.check(message(text=mb("ich bin bis 1. ")), CTX),
    "auto-reply-absent-zurzeit": lambda: auto_reply_text.check(message(text=mb("ich bin zurzeit ")), CTX),
    "auto-reply-absent-lines": lambda: auto_reply_text.check(message(text=mb("ich werde vom 1. x\n")), CTX),
    "auto-reply-registers": lambda: auto_reply_text.check(message(text=mb("melde mich ")), CTX),
    # robot_sender.py: the local part of the From address
    "robot-sender": lambda: robot_sender._ROBOT_LOCAL_PARTS.match(mb("a-bounce+")),
    "robot-sender-noreply": lambda: robot_sender._ROBOT_LOCAL_PARTS.match(mb("x.noreply", suffix="\n")),
    # intent.py
    "intent-cancel": pattern(intent._CANCEL, mb("melde mich hiermit ")),
    "intent-register": pattern(intent._REGISTER, mb("möchte a ")),
    "intent-status": pattern(intent._STATUS, mb("platz ")),
    "intent-negations": lambda: intent._without_negations(mb("nicht a ")),
    # authentication.py: Authentication-Results
    "authentication-result": pattern(authentication._RESULT, mb("spf = pass ")),
    "authentication-property": pattern(authentication._PROPERTY, mb("header.d=  ")),
    "authentication-authserv-id": lambda: authentication.authserv_id(mb("(")),
    "authentication-authserv-id-token": lambda: authentication.authserv_id(mb("x")),
    # replies.py: the subject of the mail answered
    "reply-prefix": lambda: replies.reply_subject(mb(" "), "x"),
    # parse.py: encoded-words (email.header.decode_header was quadratic), HTML, addresses, Message-IDs
    "encoded-words-unclosed": lambda: encoded_words.decode_header(mb("=?utf-8?q?a")),
    "encoded-words-adjacent": lambda: encoded_words.decode_header(mb("=?utf-8?q?a?= ")),
    "encoded-words-no-charset-end": lambda: encoded_words.decode_header(mb("=?a")),
    "html-unclosed-tags": lambda: html_text.text_of(mb("<a ")),
    "html-unclosed-quotes": lambda: html_text.text_of(mb("<a b='")),
    "html-unclosed-comments": lambda: html_text.text_of(mb("<!-- ")),
    "html-attributes": lambda: html_text.text_of(mb("<a b=x ")),
    "html-entities": lambda: html_text.text_of(mb("&#")),
    "html-blocks": lambda: html_text.text_of(mb("<p>  \t ")),
    "html-script": lambda: html_text.text_of(mb("<script>", suffix="</script")),
    "address-angles": lambda: parse_address(mb("<")),
    "address-comments": lambda: parse_address(mb("(")),
    "address-commas": lambda: parse_address(mb("a, ")),
    "content-type-cap": lambda: refused(mb('a="b;', "Content-Type: text/plain; ", "\r\n\r\nx").encode()),
    # identity.py: folded header lines
    "content-hash-folds": lambda: content_hash(mb("\r\n y", "Subject: x").encode() + b"\r\n\r\nx"),
    # bounce.py
    "bounce-smtp-reply": lambda: bounce._smtp_line(mb("550 5.1.1 ")),
    "bounce-qmail-code": lambda: bounce._smtp_line(mb("(#5.1.1 ")),
    "bounce-subject": pattern(bounce._BOUNCE_SUBJECT, mb("delivery ")),
    "bounce-delay-subject": pattern(bounce._DELAY_SUBJECT, mb("still been ")),
    "bounce-daemon-sender": lambda: bounce._address_of(mb("<") + "x@y"),
    "bounce-field-start": lambda: bounce._FIELD_START.findall(mb("  >  a-b  ")),
    "bounce-own-ids": lambda: bounce._own_ids_in_text(mb("<x.mailbot@castrop-rauxel.de> References: "), CTX),
    "bounce-own-ids-unclosed": lambda: bounce._own_ids_in_text(mb("<x.mailbot@castrop-rauxel."), CTX),
    "bounce-status-blocks": lambda: bounce._recipients(mb("Final-Recipient: rfc822; a@b\n \n")),
    # adapters/bounces.py: flufl.bounce reads a bounce's first lines only
    "flufl-blank-lines": lambda: bounces.bounced_addresses(
        mb("\n", "From: MAILER-DAEMON@x.de\nSubject: Undeliverable\n\n").encode()
    ),
    "flufl-addresses": lambda: bounces.bounced_addresses(
        mb("  a@b.de\n", "From: MAILER-DAEMON@x.de\nSubject: failure notice\n\n").encode()
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_one_megabyte_of_adversarial_input_is_read_in_well_under_a_second(name: str) -> None:
    """Each pattern/reader on mail content finishes 1 MB of its worst input in under a second of CPU."""
    assert cpu_seconds(CASES[name]) < LIMIT


def test_many_mime_parts_are_walked_in_linear_time() -> None:
    """A mail of ~100,000 parts: finding its text part costs one step per part (no list copy per part)."""
    raw = mb("--b\r\n\r\n", "Content-Type: multipart/mixed; boundary=b\r\n\r\n").encode()
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    assert cpu_seconds(lambda: body_text(msg)) < LIMIT


# --- random long inputs stay linear ------------------------------------------------------------------------

TOKENS = st.sampled_from(
    [
        "Am ", "am", "On ", "schrieb", "geschrieben", "wrote", ":", "von:", "From:", "--", "-", " ", "\t",
        "\n", "\r\n", "x", "@", "<", ">", "(", "\"", "'", ";", "=?", "?=", "?q?", "utf-8", "=E4", "<a ",
        "<!--", "&#", "multipart/report", "report-type=", "8.", "10.", "Digitalisierung", "ich bin ",
        "melde mich ", "nicht ", "abwesend", "550 5.1.1", "ä", "\xa0", ">",
    ]
)  # fmt: skip


def whole_mail(unit: str, where: str, size: int) -> bytes:
    """A mail with `unit` repeated to `size` in one place: subject, From, body, HTML body or Content-Type."""
    filler = unit * (size // len(unit))
    subject, sender, body, ctype = "Digitalisierung 08.10.", "Max <max@example.org>", "Hallo", "text/plain"
    if where == "subject":
        subject = filler.replace("\n", " ")
    elif where == "from":
        sender = filler.replace("\n", " ") + " <max@example.org>"
    elif where == "html":
        body, ctype = filler, "text/html"
    elif where == "content-type":
        ctype = "multipart/report; " + filler.replace("\n", " ")[:7000]
    else:
        body = filler
    head = f"From: {sender}\r\nSubject: {subject}\r\nContent-Type: {ctype}\r\n"
    return (head + "Message-ID: <a@b>\r\n\r\n" + body).encode("utf-8")


def read_fully(raw: bytes) -> None:
    """Everything a pass does with a mail's content before deciding: hash, parse, rules, bounce reading."""
    content_hash(raw)
    try:
        msg = parse_message(raw)
    except MessageParseError:
        return
    chain.classify(msg, CTX, KEYWORDS)
    authentication.authenticated(msg, "mx.castrop-rauxel.de")
    if bounce.may_be_bounce(msg):
        bounces.read(raw, CTX)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(TOKENS, min_size=1, max_size=12).map("".join),
    st.sampled_from(["subject", "from", "body", "html", "content-type"]),
)
def test_random_long_mails_stay_linear(unit: str, where: str) -> None:
    """Any repeated sequence of the tokens patterns react to, 256 KB of it anywhere in a mail: the whole
    reading costs about what 4 times 64 KB cost (a quadratic reader would take 16 times as long)."""
    small = min(cpu_seconds(lambda: read_fully(whole_mail(unit, where, 64_000))) for _ in range(2))
    big = min(cpu_seconds(lambda: read_fully(whole_mail(unit, where, 256_000))) for _ in range(2))
    assert big < 8 * small + 0.5
