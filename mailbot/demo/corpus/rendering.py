"""Rendering one message: headers, Received lines, boundaries, the body's parts."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from mailbot.demo.corpus.clients import Client
from mailbot.demo.corpus.context import Context
from mailbot.demo.corpus.encoding import (
    Part,
    charset_for,
    header,
    html_body,
    leaf,
    mailbox,
    multipart,
    unstructured,
)
from mailbot.demo.corpus.model import CRLF, CorpusMail
from mailbot.demo.corpus.people import PROVIDER_HOSTS, Person, german_time
from mailbot.demo.corpus.writing import TO_FORMS


def _date(ctx: Context, arrival: datetime, style: str) -> str:
    """The Date header: when the program thinks it sent the mail (sometimes wrong: clocks, zones, typos)."""
    r = ctx.rng
    sent = arrival - timedelta(seconds=r.randint(2, 90))
    local = german_time(sent)
    styles: dict[str, Callable[[], str]] = {
        "normal": lambda: format_datetime(local),
        "utc": lambda: format_datetime(sent.astimezone(UTC)),
        "comment": lambda: f"{format_datetime(local)} ({local.tzname()})",
        "noweekday": lambda: format_datetime(local)[5:],
        # The PC's clock is days behind, or hours ahead, or shows local time labelled as UTC.
        "past": lambda: format_datetime(
            german_time(sent - timedelta(days=r.randint(2, 30), hours=r.randint(0, 9)))
        ),
        "future": lambda: format_datetime(german_time(sent + timedelta(minutes=r.randint(20, 180)))),
        "wrong_zone": lambda: format_datetime(local.replace(tzinfo=UTC)),
        "last_year": lambda: format_datetime(german_time(sent - timedelta(days=365))),
    }
    return styles[style]()


def _received(ctx: Context, domain: str, arrival: datetime) -> str:
    """The trace header our MX adds (RFC 5321 §4.4); addresses from the documentation ranges (RFC 5737)."""
    host = PROVIDER_HOSTS.get(domain.lower(), f"mail.{domain.lower()}")
    ip = f"{ctx.rng.choice(('192.0.2', '198.51.100', '203.0.113'))}.{ctx.rng.randint(1, 254)}"
    local = german_time(arrival)
    qid = ctx.token("0123456789BCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz", 12)
    return (
        f"Received: from {host} ({host} [{ip}]){CRLF}"
        f"\tby mx.{ctx.to_domain} (Postfix) with ESMTPS id {qid}{CRLF}"
        f"\tfor <{ctx.to}>; {format_datetime(local)} ({local.tzname()})"
    )


def _to_header(ctx: Context) -> str:
    form = ctx.draw("to", TO_FORMS)
    label = ctx.to.partition("@")[0].replace(".", " ").title()
    return {
        "plain": ctx.to,
        "angle": f"<{ctx.to}>",
        "label": f"{label} <{ctx.to}>",
        "outlook": f"\"'{ctx.to}'\" <{ctx.to}>",  # Outlook quoting an address typed without a name
    }[form]


def make_boundary(ctx: Context, style: str) -> str:
    r, hexdigits = ctx.rng, "0123456789ABCDEF"
    makers: dict[str, Callable[[], str]] = {
        "nextpart": lambda: (
            f"----=_NextPart_000_{ctx.token(hexdigits, 4)}_01D6{ctx.token(hexdigits, 4)}."
            f"{ctx.token(hexdigits, 8)}"
        ),
        "exchange": lambda: f"_000_AM6PR08MB{ctx.token(hexdigits, 24)}EURP_",
        "apple": lambda: f"Apple-Mail={ctx.uuid().upper()}",
        "gmail": lambda: f"000000000000{r.getrandbits(64):016x}",
        "samsung": lambda: f"--_com.samsung.android.email_{r.getrandbits(60)}",
        "thunderbird": lambda: "------------" + ctx.token("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", 24),
        "none": lambda: "=_" + ctx.token(hexdigits.lower(), 32),
    }
    return makers[style]()


@dataclass(frozen=True)
class Letter:
    """What one person sends: the inputs of `_compose`."""

    client: Client
    person: Person
    subject: str | None  # None: no Subject header
    lines: tuple[str, ...]
    date_style: str = "normal"
    nbsp: str | None = None  # a keyword the HTML editor wrote with &nbsp;
    extra: tuple[tuple[str, str], ...] = ()
    reply_to_invitation: bool = False
    reply_to_own: bool = False
    sender: str = ""  # the From addr-spec when it differs in case from the person's address


def compose(
    ctx: Context,
    letter: Letter,
    arrival: datetime,
    *,
    root: Part | None = None,
    return_path: str | None = None,
) -> bytes:
    """The wire form of a letter: 7-bit, CRLF, headers in the order the program writes them."""
    client, p = letter.client, letter.person
    addr = letter.sender or p.addr
    if root is None:
        root = _body_part(ctx, client, "\n".join(letter.lines) + client.footer, letter)
    domain = addr.rpartition("@")[2].lower()
    msgid = ctx.message_id(client.msgid, domain, arrival)
    parent = ctx.invite_id if letter.reply_to_invitation else ""
    if letter.reply_to_own:
        parent = ctx.first_ids.get(addr.casefold(), "")
    ctx.first_ids.setdefault(addr.casefold(), msgid)
    bare = f"<{addr}>" if p.bare == "angle" else addr
    from_value = mailbox(p.display, addr, client) if p.display else bare
    headers = [
        f"Return-Path: <{addr if return_path is None else return_path}>",
        _received(ctx, domain, arrival),
        header("From", from_value),
        header("To", _to_header(ctx)),
    ]
    if letter.subject is not None:
        headers.append(header("Subject", unstructured(letter.subject, client)))
    headers += [f"Date: {_date(ctx, arrival, letter.date_style)}", f"Message-ID: {msgid}"]
    if parent:
        headers += [f"In-Reply-To: {parent}", f"References: {parent}"]
    extra = [header(name, value) for name, value in (*letter.extra, *client.headers)]
    if client.outlook_quote:
        extra.append(f"Thread-Index: {base64.b64encode(ctx.rng.randbytes(22)).decode('ascii')}")
    mime = [f"MIME-Version: {client.mime_version}", *root.headers]
    lines = headers + (mime + extra if client.headers_last else extra + mime)
    return (CRLF.join(lines) + CRLF + CRLF + root.body + CRLF).encode("ascii")


def _body_part(ctx: Context, client: Client, text: str, letter: Letter) -> Part:
    """The body as the program structures it: text only, HTML only, or both as multipart/alternative."""
    charset = charset_for(client.charset, text)
    plain = leaf("plain", text, charset, client.text_cte, quote=client.quote_charset, flowed=client.flowed)
    if client.layout == "plain":
        return plain
    html_charset = client.charset if client.html_style in ("outlook", "winlive") else charset
    markup = html_body(client.html_style, text.split("\n"), html_charset, letter.nbsp)
    html_part = leaf("html", markup, html_charset, client.html_cte, quote=client.quote_charset)
    if client.layout == "html":
        return html_part
    preamble = "This is a multi-part message in MIME format." if client.boundary == "nextpart" else ""
    return multipart(
        "alternative", make_boundary(ctx, client.boundary), [plain, html_part], preamble=preamble
    )


def mail(kind: str, raw: bytes, arrival: datetime, letter: Letter) -> CorpusMail:
    return CorpusMail(raw, arrival, kind, letter.sender or letter.person.addr, letter.person.display)


def render_letter(ctx: Context, kind: str, letter: Letter, arrival: datetime) -> CorpusMail:
    return mail(kind, compose(ctx, letter, arrival), arrival, letter)
