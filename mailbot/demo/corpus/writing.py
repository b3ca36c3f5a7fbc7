"""What people write: letters, greetings, quotes, signatures, subjects and dates."""

from __future__ import annotations

import re
from email.utils import format_datetime

from mailbot.demo.corpus.clients import Client
from mailbot.demo.corpus.context import Context
from mailbot.demo.corpus.people import Person, german_date, german_time

# Letters as people type them. A (with, without) pair is the line naming the keyword: `without` is used when
# the keyword is only in the subject (None drops the line). Fields: kw greet signed first last street plz
# phone.
_LetterLine = str | tuple[str, str | None]
_LETTERS: dict[str, tuple[_LetterLine, ...]] = {
    "formal": (
        "Sehr geehrte Damen und Herren,",
        "",
        (
            "hiermit melde ich mich für die Veranstaltung {kw} an.",
            "hiermit melde ich mich für die Veranstaltung an.",
        ),
        "Bitte senden Sie mir die Zugangsdaten an diese Adresse.",
        "",
        "{greet}",
        "{signed}",
    ),
    "informal": ("Hallo,", ("ich bin dabei: {kw}", "ich wäre gern dabei."), "", "Gruß", "{first}"),
    "address": (
        "Guten Tag,",
        "",
        ("ich möchte mich anmelden: {kw}", "ich möchte mich für die Zoom-Veranstaltung anmelden."),
        "",
        "Name: {first} {last}",
        "Anschrift: {street}, {plz} Castrop-Rauxel",
        "Telefon: {phone}",
        "",
        "{greet}",
        "{signed}",
    ),
    "first_line": (("{kw}", None), ("", None), "{signed}", "{street}", "{plz} Castrop-Rauxel"),
    "question": (
        "Guten Tag,",
        "",
        ("ich melde mich hiermit verbindlich an ({kw}).", "ich melde mich hiermit verbindlich an."),
        "Brauche ich für Zoom ein Programm, oder geht das auch mit dem Tablet?",
        "",
        "{greet}",
        "{signed}",
    ),
    "oneliner": (("Ich melde mich für {kw} an. Danke!", "Ich melde mich hiermit an. Danke!"), "{first}"),
    "stichwort": (
        "Sehr geehrte Damen und Herren,",
        "",
        "bitte merken Sie mich für den digitalen Bürgerdialog vor.",
        ("Stichwort: {kw}", None),
        "",
        "{greet}",
        "",
        "{signed}",
    ),
    "couple": (
        "Hallo zusammen,",
        "",
        ("wir möchten gerne zu zweit teilnehmen: {kw}", "wir möchten gerne zu zweit teilnehmen."),
        "Wir sitzen zusammen an einem Laptop.",
        "",
        "{greet}",
        "{signed}",
    ),
    "empty": (),
    "reply": (("Hiermit melde ich mich an: {kw}", "Hiermit melde ich mich an."), "{first} {last}"),
    "forward": (
        "Hallo,",
        ("ich möchte mich anmelden: {kw}", "ich möchte mich hiermit anmelden (siehe unten)."),
        "{first}",
    ),
}
TEMPLATES = ("formal", "formal", "informal", "address", "first_line", "question", "oneliner", "stichwort")
GREETINGS = (
    "Mit freundlichen Grüßen",
    "Freundliche Grüße",
    "Viele Grüße",
    "MfG",
    "Liebe Grüße",
    "Gruß",
    "Beste Grüße",
    "Mit freundlichem Gruß",
)


def letter_lines(ctx: Context, template: str, p: Person, kw: str | None) -> list[str]:
    """The typed lines of a letter; `kw` is the keyword as written, None when it is only in the subject."""
    fields = {
        "kw": kw or "",
        "greet": ctx.draw("greeting", GREETINGS),
        "signed": p.signed,
        "first": p.first,
        "last": p.last,
        "street": p.street,
        "plz": p.plz,
        "phone": p.phone,
    }
    lines = []
    for item in _LETTERS[template]:
        line = item if isinstance(item, str) else item[0] if kw else item[1]
        if line is not None:
            lines.append(line.format(**fields))
    return lines


def _invitation(ctx: Context) -> list[str]:
    """The city's invitation, as it appears quoted in replies and forwards."""
    return [
        "Liebe Bürgerinnen und Bürger,",
        "",
        "wir laden Sie herzlich zu unserer Online-Veranstaltung per Zoom ein.",
        f"Anmeldung bitte per E-Mail an {ctx.to} mit dem Stichwort",
        f"„{ctx.keyword}“. Die Zahl der Plätze ist begrenzt.",
    ]


def quoted_text(ctx: Context, client: Client, *, forward: bool) -> list[str]:
    """The invitation below a reply ("> ") or a forward, with the header line the program writes."""
    sent = german_time(ctx.invited)
    if client.outlook_quote:
        return [
            "",
            "",
            "-----Ursprüngliche Nachricht-----",
            f"Von: {ctx.to}",
            f"Gesendet: {german_date(ctx.invited)}",
            f"Betreff: {ctx.keyword}",
            "",
            *_invitation(ctx),
        ]
    if forward:
        return [
            "",
            "-------- Weitergeleitete Nachricht --------",
            f"Betreff: {ctx.keyword}",
            f"Datum: {format_datetime(sent)}",
            f"Von: {ctx.to}",
            "",
            *_invitation(ctx),
        ]
    head = f"Am {sent:%d.%m.%Y} um {sent:%H:%M} schrieb {ctx.to}:"
    return ["", head, *[f"> {line}".rstrip() for line in _invitation(ctx)]]


def signature_lines(p: Person, client: Client) -> list[str]:
    """What the program appends: a firm's block, an Outlook signature, or an RFC 3676 "-- " signature."""
    if p.firm:
        return [
            "",
            p.signed,
            p.firm,
            f"{p.street} · {p.plz} Castrop-Rauxel",
            f"Tel. {p.phone}",
            f"www.{p.domain}",
        ]
    if client.outlook_quote:
        return ["", p.signed, f"Tel. {p.phone}"]
    return ["", "-- ", p.signed, p.street, f"{p.plz} Castrop-Rauxel"]


# {v}: a keyword variant; {re}/{fw}: the program's own reply/forward prefix. The fixed prefixes come from an
# earlier step of the thread (a friend's German Outlook forwarded the invitation, ...).
SUBJECT_FORMS = (
    "{v}",
    "{v}",
    "{re}{v}",
    "{fw}{v}",
    "{re}{re}{v}",
    "WG: {v}",
    "AW: {v}",
    "{fw}WG: {v}",
    "Anmeldung {v}",
    "Anmeldung: {v}",
    "Anmeldung für {v}",
    "{v} – Anmeldung",
    "Teilnahme {v}",
    "{v} Anmeldung",
    "Verbindliche Anmeldung zur Zoom-Veranstaltung {v}",
)
REPLY = re.compile(r"(re|aw):", re.IGNORECASE)
FORWARD = re.compile(r"(fwd?|wg):", re.IGNORECASE)
BODY_ONLY_SUBJECTS: tuple[str | None, ...] = (  # None: no Subject header at all
    "Anmeldung",
    "",
    None,
    "Teilnahme",
    "Anmeldung Bürgerdialog",
    "Zoom-Veranstaltung",
    "Anmeldung zur Online-Veranstaltung",
    "Teilnahme am Bürgerdialog",
)
PLACEMENTS = ("subject",) * 5 + ("body",) * 3 + ("both",) * 2
DATE_STYLES = ("normal",) * 12 + ("utc", "comment", "noweekday", "past", "future", "wrong_zone", "last_year")
TO_FORMS = ("plain", "plain", "plain", "angle", "label", "outlook")
