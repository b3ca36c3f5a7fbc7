"""Registrations and their repeats: first mails and later ones from the same people."""

from __future__ import annotations

from mailbot.demo.corpus.clients import SENDER_DECK
from mailbot.demo.corpus.context import Context
from mailbot.demo.corpus.people import to_ascii
from mailbot.demo.corpus.rendering import Letter
from mailbot.demo.corpus.writing import (
    BODY_ONLY_SUBJECTS,
    DATE_STYLES,
    FORWARD,
    PLACEMENTS,
    REPLY,
    SUBJECT_FORMS,
    TEMPLATES,
    letter_lines,
    quoted_text,
    signature_lines,
)


def plan_registration(ctx: Context) -> Letter:
    """A new registration in a style drawn from the decks: program, place of the keyword, wording, habits."""
    domain, client = ctx.draw("sender", SENDER_DECK)
    p = ctx.person(domain)
    placement = ctx.draw("placement", PLACEMENTS)
    template = "couple" if p.partner else ctx.draw("template", TEMPLATES)
    subject: str | None
    in_reply = False
    if placement == "body":
        subject = ctx.draw("body-subject", BODY_ONLY_SUBJECTS)
    else:
        form = ctx.draw("subject", SUBJECT_FORMS)
        subject = form.format(v=ctx.draw("variant", ctx.variants), re=client.reply, fw=client.forward)
        in_reply = bool(REPLY.match(subject))
        if (in_reply or FORWARD.match(subject)) and not p.partner and ctx.rng.random() < 0.6:
            template = "reply" if in_reply else "forward"
        elif placement == "subject" and ctx.rng.random() < 0.15:
            template = "empty"
    kw = ctx.draw("body-variant", ctx.variants) if placement != "subject" else None
    lines = letter_lines(ctx, template, p, kw)
    if template in ("reply", "forward"):
        lines += quoted_text(ctx, client, forward=template == "forward")
    elif template != "empty" and ctx.draw("signature", (False, False, False, True)):
        signature = signature_lines(p, client)
        if lines and lines[-1] == p.signed and signature[1] == p.signed:
            del signature[1]  # a signature under a letter already signed by hand
        lines += signature
    if ctx.draw(
        "ascii", (False,) * 9 + (True,)
    ):  # no umlauts typed; the keyword is copied from the invitation
        lines = [
            kw.join(to_ascii(piece) for piece in line.split(kw)) if kw else to_ascii(line) for line in lines
        ]
    nbsp = kw if kw and client.html_style == "paragraphs" and ctx.rng.random() < 0.5 else None
    date_style = ctx.draw("date", DATE_STYLES)
    return Letter(client, p, subject, tuple(lines), date_style, nbsp, reply_to_invitation=in_reply)


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


def plan_repeat(ctx: Context, original: Letter, index: int) -> Letter:
    """A second mail from a registered sender, every other one with the address capitalised differently."""
    subject, lines = _REPEATS[index % len(_REPEATS)]
    p, client = original.person, original.client
    return Letter(
        client,
        p,
        subject.format(v=ctx.draw("variant", ctx.variants), re=client.reply),
        (*lines, p.signed),
        ctx.draw("date", DATE_STYLES),
        reply_to_own=subject.startswith("{re}"),
        sender=_recapitalise(p.addr) if index % 2 == 0 else "",
    )
