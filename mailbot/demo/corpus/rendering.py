"""Rendering one message: headers, Received lines, boundaries, the body's parts."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from mailbot.demo.corpus.clients import _Client
from mailbot.demo.corpus.context import _Context
from mailbot.demo.corpus.encoding import (
    _charset_for,
    _header,
    _html,
    _leaf,
    _mailbox,
    _multipart,
    _Part,
    _unstructured,
)
from mailbot.demo.corpus.model import CRLF, CorpusMail
from mailbot.demo.corpus.people import _PROVIDER_HOSTS, _german_time, _Person
from mailbot.demo.corpus.writing import _TO_FORMS


def _date(ctx: _Context, arrival: datetime, style: str) -> str:
    """The Date header: when the program thinks it sent the mail (sometimes wrong: clocks, zones, typos)."""
    r = ctx.rng
    sent = arrival - timedelta(seconds=r.randint(2, 90))
    local = _german_time(sent)
    styles: dict[str, Callable[[], str]] = {
        "normal": lambda: format_datetime(local),
        "utc": lambda: format_datetime(sent.astimezone(UTC)),
        "comment": lambda: f"{format_datetime(local)} ({local.tzname()})",
        "noweekday": lambda: format_datetime(local)[5:],
        # The PC's clock is days behind, or hours ahead, or shows local time labelled as UTC.
        "past": lambda: format_datetime(
            _german_time(sent - timedelta(days=r.randint(2, 30), hours=r.randint(0, 9)))
        ),
        "future": lambda: format_datetime(_german_time(sent + timedelta(minutes=r.randint(20, 180)))),
        "wrong_zone": lambda: format_datetime(local.replace(tzinfo=UTC)),
        "last_year": lambda: format_datetime(_german_time(sent - timedelta(days=365))),
    }
    return styles[style]()


def _received(ctx: _Context, domain: str, arrival: datetime) -> str:
    """The trace header our MX adds (RFC 5321 §4.4); addresses from the documentation ranges (RFC 5737)."""
    host = _PROVIDER_HOSTS.get(domain.lower(), f"mail.{domain.lower()}")
    ip = f"{ctx.rng.choice(('192.0.2', '198.51.100', '203.0.113'))}.{ctx.rng.randint(1, 254)}"
    local = _german_time(arrival)
    qid = ctx.token("0123456789BCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz", 12)
    return (
        f"Received: from {host} ({host} [{ip}]){CRLF}"
        f"\tby mx.{ctx.to_domain} (Postfix) with ESMTPS id {qid}{CRLF}"
        f"\tfor <{ctx.to}>; {format_datetime(local)} ({local.tzname()})"
    )


def _to_header(ctx: _Context) -> str:
    form = ctx.draw("to", _TO_FORMS)
    label = ctx.to.partition("@")[0].replace(".", " ").title()
    return {
        "plain": ctx.to,
        "angle": f"<{ctx.to}>",
        "label": f"{label} <{ctx.to}>",
        "outlook": f"\"'{ctx.to}'\" <{ctx.to}>",  # Outlook quoting an address typed without a name
    }[form]


def _boundary(ctx: _Context, style: str) -> str:
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
class _Letter:
    """What one person sends: the inputs of `_compose`."""

    client: _Client
    person: _Person
    subject: str | None  # None: no Subject header
    lines: tuple[str, ...]
    date_style: str = "normal"
    nbsp: str | None = None  # a keyword the HTML editor wrote with &nbsp;
    extra: tuple[tuple[str, str], ...] = ()
    reply_to_invitation: bool = False
    reply_to_own: bool = False
    sender: str = ""  # the From addr-spec when it differs in case from the person's address


def _compose(
    ctx: _Context,
    letter: _Letter,
    arrival: datetime,
    *,
    root: _Part | None = None,
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
    if p.display:
        from_value = _mailbox(p.display, addr, client)
    else:
        from_value = f"<{addr}>" if p.bare == "angle" else addr
    headers = [
        f"Return-Path: <{addr if return_path is None else return_path}>",
        _received(ctx, domain, arrival),
        _header("From", from_value),
        _header("To", _to_header(ctx)),
    ]
    if letter.subject is not None:
        headers.append(_header("Subject", _unstructured(letter.subject, client)))
    headers += [f"Date: {_date(ctx, arrival, letter.date_style)}", f"Message-ID: {msgid}"]
    if parent:
        headers += [f"In-Reply-To: {parent}", f"References: {parent}"]
    extra = [_header(name, value) for name, value in (*letter.extra, *client.headers)]
    if client.outlook_quote:
        extra.append(f"Thread-Index: {base64.b64encode(ctx.rng.randbytes(22)).decode('ascii')}")
    mime = [f"MIME-Version: {client.mime_version}", *root.headers]
    lines = headers + (mime + extra if client.headers_last else extra + mime)
    return (CRLF.join(lines) + CRLF + CRLF + root.body + CRLF).encode("ascii")


def _body_part(ctx: _Context, client: _Client, text: str, letter: _Letter) -> _Part:
    """The body as the program structures it: text only, HTML only, or both as multipart/alternative."""
    charset = _charset_for(client.charset, text)
    plain = _leaf("plain", text, charset, client.text_cte, quote=client.quote_charset, flowed=client.flowed)
    if client.layout == "plain":
        return plain
    html_charset = client.charset if client.html_style in ("outlook", "winlive") else charset
    markup = _html(client.html_style, text.split("\n"), html_charset, letter.nbsp)
    html_part = _leaf("html", markup, html_charset, client.html_cte, quote=client.quote_charset)
    if client.layout == "html":
        return html_part
    preamble = "This is a multi-part message in MIME format." if client.boundary == "nextpart" else ""
    return _multipart("alternative", _boundary(ctx, client.boundary), [plain, html_part], preamble=preamble)


def _mail(kind: str, raw: bytes, arrival: datetime, letter: _Letter) -> CorpusMail:
    return CorpusMail(raw, arrival, kind, letter.sender or letter.person.addr, letter.person.display)


def _render_letter(ctx: _Context, kind: str, letter: _Letter, arrival: datetime) -> CorpusMail:
    return _mail(kind, _compose(ctx, letter, arrival), arrival, letter)
