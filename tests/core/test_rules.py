"""Robot rules: each recognises its kind of machine mail, and none fires on a citizen's registration."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mailbot.core import chain
from mailbot.core.model import Event, InboundMessage, RuleContext
from mailbot.core.parse import parse_message
from mailbot.core.rules import Rule

CTX = RuleContext(own_addresses=frozenset({"anmeldung@stadt.example"}), own_domain="stadt.example")
KEYWORDS = chain.Keywords(
    [Event("digi", "Digitalisierung", "Digitalisierung 08.10.", 30, datetime(2020, 10, 8, 16, tzinfo=UTC))]
)
RULES: dict[str, Rule] = {rule.name: rule for rule in chain.MACHINE_RULES}

CITIZEN_BODY = "Guten Tag,\n\nhiermit melde ich mich an.\n\nMit freundlichen Grüßen\nHans Müller\n"


def mail(
    *extra: str,
    sender: str = "Hans Müller <hans.mueller@example.org>",
    subject: str = "Digitalisierung 08.10.",
    message_id: str = "<20201001091500.4711@mail.example.org>",
    content_type: str = "text/plain; charset=utf-8",
    body: str = CITIZEN_BODY,
) -> InboundMessage:
    """A parsed mail: a citizen's registration unless the arguments say otherwise."""
    head = [
        f"From: {sender}",
        "To: Anmeldung Stadt <anmeldung@stadt.example>",
        f"Subject: {subject}",
        "Date: Thu, 01 Oct 2020 09:15:00 +0200",
        f"Message-ID: {message_id}",
        "MIME-Version: 1.0",
        f"Content-Type: {content_type}",
        *extra,
    ]
    raw = "\r\n".join(head) + "\r\n\r\n" + body.replace("\n", "\r\n")
    return parse_message(raw.encode("utf-8"))


DSN_BODY = """--dsn
Content-Type: text/plain; charset=us-ascii

Your message could not be delivered.
--dsn
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.org
Final-Recipient: rfc822; hans@example.org
Action: failed
Status: 5.1.1
--dsn--
"""

HITS = [
    # own-mail: a loop is the most dangerous case
    pytest.param("own-mail", mail(sender="Anmeldung Stadt <anmeldung@stadt.example>"), id="own-address"),
    pytest.param("own-mail", mail(sender="ANMELDUNG@Stadt.Example"), id="own-address-any-case"),
    pytest.param("own-mail", mail("X-Mailbot-Status: confirmed"), id="loop-header"),
    pytest.param("own-mail", mail(message_id="<3f2a9c0d1e.mailbot@stadt.example>"), id="own-message-id"),
    # auto-submitted (RFC 3834)
    pytest.param("auto-submitted", mail("Auto-Submitted: auto-replied"), id="auto-replied"),
    pytest.param("auto-submitted", mail("Auto-Submitted: auto-generated"), id="auto-generated"),
    pytest.param(
        "auto-submitted", mail("Auto-Submitted: Auto-Notified; owner-email=a@example.org"), id="notified"
    ),
    # null-sender
    pytest.param("null-sender", mail("Return-Path: <>"), id="return-path-empty"),
    pytest.param("null-sender", mail("Return-Path: < >"), id="return-path-empty-spaced"),
    # delivery-report (RFC 3464 / RFC 8098)
    pytest.param(
        "delivery-report",
        mail(content_type='multipart/report; report-type=delivery-status; boundary="dsn"', body=DSN_BODY),
        id="dsn",
    ),
    pytest.param(
        "delivery-report",
        mail(
            content_type='multipart/report;\r\n boundary="dsn";\r\n report-type="delivery-status"',
            body=DSN_BODY,
        ),
        id="dsn-folded-quoted",
    ),
    pytest.param(
        "delivery-report",
        mail(
            content_type='multipart/report; report-type=disposition-notification; boundary="dsn"',
            body=DSN_BODY,
        ),
        id="read-receipt",
    ),
    # robot-sender
    pytest.param("robot-sender", mail(sender="MAILER-DAEMON@mx.example.org"), id="mailer-daemon"),
    pytest.param("robot-sender", mail(sender="postmaster@example.org"), id="postmaster"),
    pytest.param("robot-sender", mail(sender="LISTSERV@lists.example.org"), id="listserv"),
    pytest.param("robot-sender", mail(sender="majordomo@example.org"), id="majordomo"),
    pytest.param("robot-sender", mail(sender="buergerforum-request@lists.example.org"), id="list-request"),
    pytest.param("robot-sender", mail(sender="owner-buergerforum@lists.example.org"), id="list-owner"),
    pytest.param("robot-sender", mail(sender="Stadtwerke <noreply@stadtwerke.example>"), id="noreply"),
    pytest.param("robot-sender", mail(sender="Shop <no-reply@shop.example>"), id="no-reply"),
    pytest.param("robot-sender", mail(sender="DoNotReply@bank.example"), id="donotreply"),
    pytest.param("robot-sender", mail(sender="do-not-reply@portal.example"), id="do-not-reply"),
    # mailing-list (RFC 2369 / RFC 2919) and Precedence
    pytest.param(
        "mailing-list", mail("List-Id: Buergerforum <buergerforum.lists.example.org>"), id="list-id"
    ),
    pytest.param(
        "mailing-list", mail("List-Unsubscribe: <mailto:leave@lists.example.org>"), id="list-unsubscribe"
    ),
    pytest.param("mailing-list", mail("List-Post: <mailto:forum@lists.example.org>"), id="list-post"),
    pytest.param("mailing-list", mail("Precedence: bulk"), id="precedence-bulk"),
    pytest.param("mailing-list", mail("Precedence: junk"), id="precedence-junk"),
    pytest.param("mailing-list", mail("Precedence: List"), id="precedence-list"),
    pytest.param("mailing-list", mail("Precedence: auto_reply"), id="precedence-auto-reply"),
    # auto-response-headers
    pytest.param("auto-response-headers", mail("X-Auto-Response-Suppress: All"), id="suppress-all"),
    pytest.param("auto-response-headers", mail("X-Auto-Response-Suppress: OOF"), id="suppress-oof"),
    pytest.param(
        "auto-response-headers", mail("X-Auto-Response-Suppress: DR, AutoReply"), id="suppress-autoreply"
    ),
    pytest.param("auto-response-headers", mail("X-Autoreply: yes"), id="x-autoreply"),
    pytest.param("auto-response-headers", mail("X-Autorespond: Abwesenheit"), id="x-autorespond"),
    # auto-reply-text: no headers at all, only the words
    pytest.param(
        "auto-reply-text", mail(subject="Automatische Antwort: Digitalisierung 08.10."), id="automatische"
    ),
    pytest.param(
        "auto-reply-text", mail(subject="Automatic reply: Digitalisierung 08.10."), id="automatic-reply"
    ),
    pytest.param(
        "auto-reply-text", mail(subject="Abwesenheitsnotiz: Digitalisierung 08.10."), id="abwesenheit"
    ),
    pytest.param(
        "auto-reply-text", mail(subject="Out of Office: Digitalisierung 08.10."), id="out-of-office"
    ),
    pytest.param(
        "auto-reply-text", mail(subject="Undeliverable: Digitalisierung 08.10."), id="undeliverable"
    ),
    pytest.param(
        "auto-reply-text",
        mail(
            subject="Mail delivery failed: returning message to sender",
            body="This message was created automatically by mail delivery software.\nDigitalisierung 08.10.",
        ),
        id="mail-delivery-failed",
    ),
    pytest.param(
        "auto-reply-text",
        mail(sender="Mail Delivery Subsystem <mta@mx.example.org>"),
        id="mail-delivery-subsystem-name",
    ),
    pytest.param(
        "auto-reply-text",
        mail(body="Guten Tag,\n\nich bin bis zum 12.10. nicht im Büro.\nIch lese meine Mails danach.\n"),
        id="ooo-text",
    ),
    pytest.param(
        "auto-reply-text",
        mail(body="Guten Tag,\nich bin ab dem 28.09.2020 bis einschließlich 11.10.2020 nicht erreichbar.\n"),
        id="gmx-ich-bin-ab-nicht-erreichbar",
    ),
    pytest.param(
        "auto-reply-text",
        mail(body="Ich werde ab  28.09.2020 nicht im Büro sein. Ich kehre zurück am 12.10.2020.\n"),
        id="lotus-notes-ich-werde-ab",
    ),
    pytest.param(
        "auto-reply-text",
        mail(body="Thank you for your message. I am on annual leave until 12/10/2020.\n"),
        id="annual-leave",
    ),
    pytest.param(
        "auto-reply-text",
        mail(
            subject="Re: Digitalisierung 08.10.",
            body="Hi. This is the qmail-send program at mx.example.org.\n",
        ),
        id="qmail-body",
    ),
    pytest.param(
        "auto-reply-text",
        mail(
            subject="away from my mail", body='Your mail regarding "Digitalisierung 08.10." will be read.\n'
        ),
        id="unix-vacation-subject",
    ),
]

MISSES = [
    pytest.param("own-mail", mail(sender="hans.mueller@stadt.example"), id="colleague-same-domain"),
    pytest.param(
        "own-mail",
        mail(
            "In-Reply-To: <3f2a9c0d1e.mailbot@stadt.example>",
            "References: <3f2a9c0d1e.mailbot@stadt.example>",
            subject="Re: Digitalisierung 08.10.",
        ),
        id="citizen-replying-to-our-reply",
    ),
    pytest.param(
        "own-mail", mail(message_id="<1a2b.mailbot@example.org>"), id="mailbot-id-of-another-domain"
    ),
    pytest.param("auto-submitted", mail("Auto-Submitted: no"), id="auto-submitted-no"),
    pytest.param("auto-submitted", mail("Auto-Submitted: No"), id="auto-submitted-No"),
    pytest.param("null-sender", mail("Return-Path: <hans.mueller@example.org>"), id="return-path-address"),
    pytest.param(
        "delivery-report",
        mail(content_type='multipart/mixed; boundary="dsn"', body=DSN_BODY),
        id="multipart-mixed",
    ),
    pytest.param("robot-sender", mail(sender="familie.noack@example.org"), id="local-part-starting-no"),
    pytest.param(
        "robot-sender", mail(sender="Norbert Reply <norbert.reply@example.org>"), id="surname-reply"
    ),
    pytest.param("robot-sender", mail(sender="owner@tischlerei.example"), id="local-part-owner"),
    pytest.param("robot-sender", mail(sender="Post Master <h.post@example.org>"), id="robot-words-in-name"),
    pytest.param("mailing-list", mail("Precedence: first-class"), id="precedence-first-class"),
    pytest.param(
        "mailing-list", mail(body="Hallo,\nList-Id: das steht nur im Text.\n"), id="list-id-in-body"
    ),
    pytest.param(
        "auto-response-headers", mail("X-Auto-Response-Suppress: DR, RN, NRN"), id="suppress-receipts"
    ),
    pytest.param("auto-response-headers", mail("X-Mailer: Microsoft Outlook 16.0"), id="outlook"),
    pytest.param("auto-reply-text", mail(subject="Re: Digitalisierung 08.10."), id="re-subject"),
    pytest.param(
        "auto-reply-text",
        mail(subject="Frage zur automatischen Antwort – Digitalisierung 08.10."),
        id="auto-reply-words-later-in-subject",
    ),
    pytest.param("auto-reply-text", mail(body="Hallo,\nich bin am 08.10. gern dabei.\n"), id="ich-bin-dabei"),
    pytest.param(
        "auto-reply-text",
        mail(
            body=(
                "Hallo, ich melde mich hiermit an.\nHans\n\n"
                "Am 01.10.2020 um 10:00 schrieb Anmeldung <anmeldung@stadt.example>:\n"
                "> Guten Tag,\n> Dies ist eine automatische Nachricht.\n"
            )
        ),
        id="quoting-an-automatic-message",
    ),
    pytest.param(
        "auto-reply-text",
        mail(
            body=(
                "Hallo, ich melde mich an (Einladung unten).\nHans\n\n"
                "---------- Forwarded message ---------\nVon: Stadt <newsletter@stadt.example>\n"
                "Diese Nachricht wurde automatisch erstellt.\n"
            )
        ),
        id="forwarding-an-automatic-message",
    ),
    pytest.param(
        "auto-reply-text",
        mail(body="Hallo,\nich bin vom 01.10. bis 07.10. im Urlaub, melde mich aber jetzt schon an.\n"),
        id="holiday-dates-but-registers",
    ),
    pytest.param(
        "auto-reply-text",
        mail(body="Hallo,\nich bin bis 17 Uhr nicht erreichbar, danach gern unter 02305 98765.\n"),
        id="not-reachable-until-an-hour",
    ),
    pytest.param(
        "auto-reply-text",
        mail(body="Anmeldung bitte. Ich bin ab 18 Uhr erreichbar.\n"),
        id="reachable-from-18",
    ),
    pytest.param(
        "auto-reply-text",
        mail(subject="Ich bin nicht sicher, ob ich angemeldet bin – Digitalisierung 08.10."),
        id="subject-ich-bin-nicht-sicher",
    ),
    pytest.param(
        "auto-reply-text",
        mail(body="I will be on vacation until Oct 5, but I would like to register.\n"),
        id="vacation-but-registers",
    ),
]


@pytest.mark.parametrize(("rule", "msg"), HITS)
def test_rule_hits(rule: str, msg: InboundMessage) -> None:
    """The rule gives a reason for its kind of machine mail; the chain never makes it a registration."""
    reason = RULES[rule].check(msg, CTX)
    assert reason
    verdict = chain.classify(msg, CTX, KEYWORDS)
    assert verdict.event_ids == ("digi",)  # the keyword is there ...
    assert verdict.machine is not None  # ... and still no registration
    assert not verdict.is_registration


@pytest.mark.parametrize(("rule", "msg"), MISSES)
def test_rule_misses(rule: str, msg: InboundMessage) -> None:
    """The rule stays silent on a person's mail that merely resembles its kind."""
    assert RULES[rule].check(msg, CTX) is None


def test_every_rule_has_hit_and_miss_cases() -> None:
    """Every rule of the chain is covered by at least one hit case and one miss case above."""
    hit_rules = {case.values[0] for case in HITS}
    miss_rules = {case.values[0] for case in MISSES}
    assert hit_rules == miss_rules == set(RULES)


CITIZENS = [
    pytest.param(mail(), id="plain"),
    pytest.param(
        mail("Auto-Submitted: no", "X-Mailer: Thunderbird", sender='"Müller, Hans" <h.mueller@example.org>'),
        id="auto-submitted-no",
    ),
    pytest.param(
        mail(
            "Return-Path: <hans.mueller@example.org>",
            "X-Auto-Response-Suppress: DR, RN, NRN",
            subject="AW: Einladung: Digitalisierung 08.10.",
        ),
        id="outlook-reply-to-invitation",
    ),
    pytest.param(
        mail(
            content_type="text/html; charset=utf-8",
            subject="Anmeldung",
            body="<p>Guten Tag,</p><p>ich melde mich an: Digitalisierung 08.10.</p><p>Gr&uuml;&szlig;e</p>",
        ),
        id="html-only-webmail",
    ),
    pytest.param(
        mail(
            sender="=?utf-8?q?Ay=C5=9Fe_Y=C4=B1lmaz?= <ayse.yilmaz@example.org>",
            subject="digitalisierung 8.10",
        ),
        id="encoded-name",
    ),
]


@pytest.mark.parametrize("msg", CITIZENS)
@pytest.mark.parametrize("rule", list(RULES))
def test_citizen_registration_passes_every_rule(rule: str, msg: InboundMessage) -> None:
    """A normal citizen's registration mail hits no robot rule."""
    assert RULES[rule].check(msg, CTX) is None


@pytest.mark.parametrize("msg", CITIZENS)
def test_citizen_registration_is_a_registration(msg: InboundMessage) -> None:
    """A normal citizen's registration mail is classified as a registration for its event."""
    verdict = chain.classify(msg, CTX, KEYWORDS)
    assert verdict.is_registration
    assert verdict.event_ids == ("digi",)


def test_rules_are_named_and_described() -> None:
    """Every rule has a unique name and a description an admin can read."""
    names = [rule.name for rule in chain.MACHINE_RULES]
    assert len(names) == len(set(names))
    assert all(rule.description.strip() for rule in chain.MACHINE_RULES)
