"""Registrations and their repeats: first mails and later ones from the same people."""

from __future__ import annotations

from mailbot.demo.corpus.clients import _SENDER_DECK
from mailbot.demo.corpus.context import _Context
from mailbot.demo.corpus.people import _ascii
from mailbot.demo.corpus.rendering import _Letter
from mailbot.demo.corpus.writing import (
    _BODY_ONLY_SUBJECTS,
    _DATE_STYLES,
    _FORWARD,
    _PLACEMENTS,
    _REPLY,
    _SUBJECT_FORMS,
    _TEMPLATES,
    _letter_lines,
    _quoted,
    _signature,
)


def _plan_registration(ctx: _Context) -> _Letter:
    """A new registration in a style drawn from the decks: program, place of the keyword, wording, habits."""
    domain, client = ctx.draw("sender", _SENDER_DECK)
    p = ctx.person(domain)
    placement = ctx.draw("placement", _PLACEMENTS)
    template = "couple" if p.partner else ctx.draw("template", _TEMPLATES)
    subject: str | None
    in_reply = False
    if placement == "body":
        subject = ctx.draw("body-subject", _BODY_ONLY_SUBJECTS)
    else:
        form = ctx.draw("subject", _SUBJECT_FORMS)
        subject = form.format(v=ctx.draw("variant", ctx.variants), re=client.reply, fw=client.forward)
        in_reply = bool(_REPLY.match(subject))
        if (in_reply or _FORWARD.match(subject)) and not p.partner and ctx.rng.random() < 0.6:
            template = "reply" if in_reply else "forward"
        elif placement == "subject" and ctx.rng.random() < 0.15:
            template = "empty"
    kw = ctx.draw("body-variant", ctx.variants) if placement != "subject" else None
    lines = _letter_lines(ctx, template, p, kw)
    if template in ("reply", "forward"):
        lines += _quoted(ctx, client, forward=template == "forward")
    elif template != "empty" and ctx.draw("signature", (False, False, False, True)):
        signature = _signature(p, client)
        if lines and lines[-1] == p.signed and signature[1] == p.signed:
            del signature[1]  # a signature under a letter already signed by hand
        lines += signature
    if ctx.draw(
        "ascii", (False,) * 9 + (True,)
    ):  # no umlauts typed; the keyword is copied from the invitation
        lines = [kw.join(_ascii(piece) for piece in line.split(kw)) if kw else _ascii(line) for line in lines]
    nbsp = kw if kw and client.html_style == "paragraphs" and ctx.rng.random() < 0.5 else None
    date_style = ctx.draw("date", _DATE_STYLES)
    return _Letter(client, p, subject, tuple(lines), date_style, nbsp, reply_to_invitation=in_reply)


def _recapitalise(addr: str) -> str:
    """The same address typed differently: "max.mustermann@gmx.de" -> "Max.Mustermann@GMX.de"."""
    local, _, domain = addr.partition("@")
    label, _, rest = domain.partition(".")
    local = ".".join(part.capitalize() for part in local.split("."))
    label = label.upper() if len(label) <= 4 else label.title()
    new = f"{local}@{label}.{rest}"
    return new if new != addr else addr.upper()


_REPEATS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "Habe ich mich schon angemeldet? {v}",
        (
            "Guten Tag,",
            "",
            "ich habe mich vorhin schon angemeldet, aber noch keine Antwort bekommen.",
            "Bin ich dabei?",
            "",
            "Gruß",
        ),
    ),
    ("{re}{v}", ("Sorry, nochmal - ich weiß nicht, ob meine erste Mail angekommen ist.", "")),
    (
        "Nochmal Anmeldung {v}",
        ("Hallo,", "", "ich melde mich sicherheitshalber noch einmal an.", "", "Viele Grüße"),
    ),
)


def _plan_repeat(ctx: _Context, original: _Letter, index: int) -> _Letter:
    """A second mail from a registered sender, every other one with the address capitalised differently."""
    subject, lines = _REPEATS[index % len(_REPEATS)]
    p, client = original.person, original.client
    return _Letter(
        client,
        p,
        subject.format(v=ctx.draw("variant", ctx.variants), re=client.reply),
        (*lines, p.signed),
        ctx.draw("date", _DATE_STYLES),
        reply_to_own=subject.startswith("{re}"),
        sender=_recapitalise(p.addr) if index % 2 == 0 else "",
    )
