"""Unrelated mail and robots: office mail, newsletters, invoices, auto-replies and bounces."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from email.utils import format_datetime

from mailbot.demo.corpus.clients import APPLE_MAIL, FIRM, GMAIL, OUTLOOK16, SENDER_DECK, THUNDERBIRD
from mailbot.demo.corpus.context import Context
from mailbot.demo.corpus.encoding import (
    Part,
    charset_for,
    encode_body,
    header,
    leaf,
    multipart,
    unstructured,
)
from mailbot.demo.corpus.keywords import negative_variants
from mailbot.demo.corpus.model import CRLF, CorpusMail
from mailbot.demo.corpus.people import MONTHS, PROVIDER_MX, Person, german_time, slug
from mailbot.demo.corpus.rendering import Letter, compose, mail, make_boundary, render_letter
from mailbot.demo.corpus.writing import DATE_STYLES, GREETINGS

# Citizens' mail to the shared office mailbox. Fields: street plz words wrong (the keyword with another date).
_OFFICE_MAIL: dict[int, tuple[str, tuple[str, ...]]] = {
    0: (
        "Frage zur Müllabfuhr",
        (
            "Guten Tag,",
            "",
            "unsere Biotonne ({street}) wurde am Montag nicht geleert.",
            "Wann kommt sie noch?",
        ),
    ),
    # Meant to register, but with the wrong date: not the bot's to answer, staff will see it.
    2: ("{wrong}", ("Hallo,", "", "hiermit melde ich mich an.")),
    4: (
        "Frage zum Thema {words}",
        (
            "Sehr geehrte Damen und Herren,",
            "",
            "eine Frage zum Thema {words}:",
            "Kann ich meinen Bewohnerparkausweis inzwischen online beantragen?",
        ),
    ),
    5: (
        "Sperrmüll anmelden",
        (
            "Hallo,",
            "",
            "ich möchte Sperrmüll anmelden: ein Sofa und zwei Stühle.",
            "Adresse: {street}, {plz}",
        ),
    ),
    6: (
        "Straßenlaterne defekt",
        ("Guten Abend,", "", "die Straßenlaterne vor {street} ist seit Tagen dunkel."),
    ),
    7: (
        "Abmeldung Hundesteuer",
        ("Sehr geehrte Damen und Herren,", "", "unser Hund ist verstorben.", "Bitte melden Sie ihn ab."),
    ),
}


def unrelated_mail(ctx: Context, index: int, arrival: datetime) -> CorpusMail:
    """Ordinary office mail; some name the topic or the date, or the keyword with another date, never it."""
    slot = index % 8
    if slot == 1:
        return _newsletter(ctx, arrival)
    if slot == 3:
        return _invoice(ctx, arrival)
    domain, client = ctx.draw("sender", SENDER_DECK)
    p = ctx.person(domain, "plain")
    fields = {
        "street": p.street,
        "plz": p.plz,
        "words": ctx.kw.words,
        "wrong": negative_variants(ctx.keyword)[0],
    }
    subject, lines = _OFFICE_MAIL[slot]
    body = (*(line.format(**fields) for line in lines), "", ctx.draw("greeting", GREETINGS), p.signed)
    letter = Letter(client, p, subject.format(**fields), body, ctx.draw("date", DATE_STYLES))
    return render_letter(ctx, "unrelated", letter, arrival)


def _newsletter(ctx: Context, arrival: datetime) -> CorpusMail:
    """A list newsletter (RFC 2369 List-*, Precedence: bulk) naming the topic, and the date elsewhere."""
    k, domain = ctx.kw, "digitale-kommune-nrw.de"
    month = MONTHS[german_time(arrival).month - 1]
    webinar = f"Webinar am {k.date(year=ctx.year)}" if k.dated else "Webinar im Herbst"
    lines = (
        f"Newsletter {month} {ctx.year}",
        f"Online lesen: https://www.{domain}/newsletter/{arrival:%Y-%m}",
        "",
        "Liebe Leserinnen und Leser,",
        "",
        "in dieser Ausgabe:",
        f"* {k.words} in Schulen: {webinar}",
        "* Neue Fördermittel für den Breitbandausbau",
        "* Termine im Oktober",
        "",
        f"Abmelden: https://www.{domain}/abmelden",
    )
    token = ctx.token("0123456789abcdef", 16)
    unsubscribe = f"<https://www.{domain}/abmelden?id={token}>, <mailto:abmelden@{domain}?subject={token}>"
    letter = Letter(
        replace(APPLE_MAIL, headers=(), msgid="hex", boundary="none"),
        Person("", "", f"newsletter@{domain}", domain, "Digitale Kommune NRW"),
        f"Newsletter {month}: {k.words} in der Kommune",
        lines,
        extra=(
            ("List-Id", f"Newsletter Digitale Kommune <newsletter.{domain}>"),
            ("List-Unsubscribe", unsubscribe),
            ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
            ("Precedence", "bulk"),
        ),
    )
    raw = compose(ctx, letter, arrival, return_path=f"bounce-{token}@{domain}")
    return replace(mail("unrelated", raw, arrival, letter), machine=True)


_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)


def _invoice(ctx: Context, arrival: datetime) -> CorpusMail:
    """A supplier's invoice with a PDF attachment (multipart/mixed), due on the event's date (no keyword)."""
    first, last, _ = ctx.name_pair()
    domain = f"druckerei-{slug(last)}.de"
    due = f"bis zum {ctx.kw.date(year=ctx.year)}" if ctx.kw.dated else "innerhalb von 14 Tagen"
    number = f"{ctx.year}-{ctx.rng.randint(100, 999)}"
    text = "\n".join(
        [
            "Sehr geehrte Damen und Herren,",
            "",
            f"anbei erhalten Sie unsere Rechnung {number} für den Druck der Einladungsflyer.",
            f"Bitte überweisen Sie den Betrag {due}.",
            "",
            "Mit freundlichen Grüßen",
            f"i. A. {first} {last}",
            f"Druckerei {last} GmbH",
        ]
    )
    filename = f"Rechnung_{number}.pdf"
    attachment = Part(
        (
            f'Content-Type: application/pdf;{CRLF}\tname="{filename}"',
            "Content-Transfer-Encoding: base64",
            f'Content-Disposition: attachment;{CRLF}\tfilename="{filename}"',
        ),
        encode_body(_PDF, "base64"),
    )
    root = multipart(
        "mixed",
        make_boundary(ctx, "nextpart"),
        [leaf("plain", text, charset_for(OUTLOOK16.charset, text), "qp"), attachment],
        preamble="This is a multi-part message in MIME format.",
    )
    p = Person(first, last, f"buchhaltung@{domain}", domain, f"Druckerei {last} GmbH")
    letter = Letter(OUTLOOK16, p, f"Rechnung {number}", ())
    return mail("unrelated", compose(ctx, letter, arrival, root=root), arrival, letter)


def auto_reply(ctx: Context, index: int, arrival: datetime, bounced: Person | None) -> CorpusMail:
    """Robots answering (RFC 3834): out-of-office replies, and a delivery failure report (RFC 3464)."""
    slot = index % 4
    if slot == 1:
        return _bounce(ctx, arrival, bounced)
    extra: tuple[tuple[str, str], ...]
    if slot == 0:  # Exchange's out-of-office, with the keyword in the subject
        p = ctx.person(FIRM, "plain")
        until = german_time(arrival + timedelta(days=ctx.rng.randint(3, 14)))
        lines: tuple[str, ...] = (
            "Vielen Dank für Ihre Nachricht.",
            "",
            f"Ich bin bis einschließlich {until:%d.%m.%Y} nicht im Büro und lese keine E-Mails.",
            f"In dringenden Fällen wenden Sie sich bitte an info@{p.domain}.",
            "",
            "Mit freundlichen Grüßen",
            p.signed,
        )
        extra = (
            ("Thread-Topic", unstructured(ctx.keyword, OUTLOOK16)),
            ("Auto-Submitted", "auto-replied"),
            ("X-Auto-Response-Suppress", "All"),
        )
        subject = f"Automatische Antwort: {ctx.keyword}"
        letter = Letter(OUTLOOK16, p, subject, lines, extra=extra, reply_to_invitation=True)
    elif slot == 2:  # Gmail's vacation responder: looks like a reply, only Auto-Submitted tells
        p = ctx.person("gmail.com", "plain")
        lines = ("Hallo,", "", "ich bin bis zum 4. Oktober im Urlaub.", "", "Viele Grüße", p.first)
        extra = (("Auto-Submitted", "auto-replied"),)
        letter = Letter(GMAIL, p, f"Re: {ctx.keyword}", lines, extra=extra, reply_to_invitation=True)
    else:  # an old vacation program: only X-Autoreply and Precedence tell
        p = ctx.person("gmx.de", "plain")
        lines = (
            "Ich bin zurzeit nicht erreichbar.",
            "Ihre Nachricht wird nicht weitergeleitet.",
            "",
            p.signed,
        )
        extra = (("X-Autoreply", "yes"), ("Precedence", "junk"))
        letter = Letter(THUNDERBIRD, p, f"Abwesenheitsnotiz: {ctx.keyword}", lines, extra=extra)
    return render_letter(ctx, "auto-reply", letter, arrival)


def _bounce(ctx: Context, arrival: datetime, bounced: Person | None) -> CorpusMail:
    """Postfix's bounce of our confirmation (RFC 3464 multipart/report), returning it (keyword included)."""
    mta = f"mail.{ctx.to_domain}"
    daemon = f"MAILER-DAEMON@{mta}"
    rcpt = bounced.addr if bounced else f"m.muster{ctx.rng.randint(10, 99)}@t-online.de"
    remote = PROVIDER_MX.get(rcpt.rpartition("@")[2].lower(), f"mx.{rcpt.rpartition('@')[2].lower()}")
    sent = german_time(arrival - timedelta(seconds=ctx.rng.randint(3, 30)))
    queue_alphabet = "0123456789BCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz"
    qid = ctx.token(queue_alphabet, 12)
    notice = [
        f"This is the mail system at host {mta}.",
        "",
        "I'm sorry to have to inform you that your message could not",
        "be delivered to one or more recipients. It's attached below.",
        "",
        "For further assistance, please send mail to postmaster.",
        "",
        "                   The mail system",
        "",
        f"<{rcpt}>: host {remote}[203.0.113.{ctx.rng.randint(1, 254)}] said: 552 5.2.2",
        "    Mailbox full (in reply to RCPT TO command)",
    ]
    status = [
        f"Reporting-MTA: dns; {mta}",
        f"X-Postfix-Queue-ID: {qid}",
        f"X-Postfix-Sender: rfc822; {ctx.to}",
        f"Arrival-Date: {format_datetime(sent)} ({sent.tzname()})",
        "",
        f"Final-Recipient: rfc822; {rcpt}",
        f"Original-Recipient: rfc822;{rcpt}",
        "Action: failed",
        "Status: 5.2.2",
        f"Remote-MTA: dns; {remote}",
        "Diagnostic-Code: smtp; 552 5.2.2 Mailbox full",
    ]
    reply = leaf(
        "plain", f"Guten Tag,\n\nvielen Dank für Ihre Anmeldung zu „{ctx.keyword}“.\n", "utf-8", "qp"
    )
    returned = [
        f"Received: by {mta} (Postfix, from userid 998){CRLF}\tid {ctx.token(queue_alphabet, 12)}; "
        f"{format_datetime(sent)} ({sent.tzname()})",
        f"From: {ctx.to}",
        f"To: {rcpt}",
        header("Subject", unstructured(f"Re: {ctx.keyword}", THUNDERBIRD)),
        f"Date: {format_datetime(sent)}",
        f"Message-ID: {ctx.message_id('hex', ctx.to_domain, sent)}",
        "Auto-Submitted: auto-replied",
        "MIME-Version: 1.0",
        *reply.headers,
        "",
        reply.body,
    ]
    parts = [
        Part(
            ("Content-Description: Notification", 'Content-Type: text/plain; charset="us-ascii"'),
            CRLF.join(notice),
        ),
        Part(
            ("Content-Description: Delivery report", "Content-Type: message/delivery-status"),
            CRLF.join(status),
        ),
        Part(
            ("Content-Description: Undelivered Message", "Content-Type: message/rfc822"), CRLF.join(returned)
        ),
    ]
    root = multipart(
        "report",
        f"{qid}.{int(arrival.timestamp())}/{mta}",
        parts,
        preamble="This is a MIME-encapsulated message.",
        params=" report-type=delivery-status;",
    )
    local = german_time(arrival)
    headers = [
        "Return-Path: <>",
        f"Received: by {mta} (Postfix){CRLF}\tid {qid}; {format_datetime(local)} ({local.tzname()})",
        f"Date: {format_datetime(local)} ({local.tzname()})",
        f"From: Mail Delivery System <{daemon}>",
        "Subject: Undelivered Mail Returned to Sender",
        f"To: {ctx.to}",
        "Auto-Submitted: auto-replied",
        "MIME-Version: 1.0",
        *root.headers,
        "Content-Transfer-Encoding: 7bit",
        f"Message-Id: {ctx.message_id('postfix', mta, arrival)}",
    ]
    raw = (CRLF.join(headers) + CRLF + CRLF + root.body + CRLF).encode("ascii")
    return CorpusMail(raw, arrival, "auto-reply", daemon, "Mail Delivery System")
