"""Finding an event's keyword: exact on words and date, tolerant of form, blind to quoted text."""

from __future__ import annotations

import re

import pytest

from mailbot.core.keyword import BODY_LINES, canonical, compile_keyword, matching, mentions
from mailbot.core.parse import parse_message

DIGI = compile_keyword("Digitalisierung 08.10.")


def where(subject: str = "", text: str = "", pattern: re.Pattern[str] = DIGI) -> str | None:
    """Where the keyword is found ("subject", "body") or None."""
    return mentions(pattern, subject, text)


def mail(*headers: str, body: str) -> bytes:
    """A raw message from header lines and a body, CRLF line endings, UTF-8."""
    return ("\r\n".join(headers) + "\r\n\r\n" + body.replace("\n", "\r\n")).encode("utf-8")


# --- the subject -----------------------------------------------------------------------------------------

SUBJECT_MATCHES = [
    pytest.param("Digitalisierung 08.10.", id="as-configured"),
    pytest.param("digitalisierung 08.10.", id="lower-case"),
    pytest.param("DIGITALISIERUNG 08.10.", id="upper-case"),
    pytest.param("Digitalisierung 8.10.", id="no-leading-zero-on-day"),
    pytest.param("Digitalisierung 08.10", id="no-trailing-dot"),
    pytest.param("Digitalisierung 8.10", id="no-zero-no-dot"),
    pytest.param("digitalisierung 08.10.2020", id="four-digit-year"),
    pytest.param("Digitalisierung 8.10.20", id="two-digit-year"),
    pytest.param("Digitalisierung 08.10 2020", id="year-after-space"),
    pytest.param("Digitalisierung    08.10.", id="extra-spaces"),
    pytest.param("Digitalisierung 08. 10.", id="space-after-day-dot"),
    pytest.param("Digitalisierung08.10.", id="no-space"),
    pytest.param("„Digitalisierung 08.10.“", id="german-quotes"),
    pytest.param('"Digitalisierung 08.10."', id="straight-quotes"),
    pytest.param("Anmeldung „Digitalisierung“ 08.10.", id="quotes-around-word"),
    pytest.param("Digitalisierung\u00a008.10.", id="non-breaking-space"),
    pytest.param("Digitalisierung\u2009\u2013\u200908.10.", id="thin-spaces-and-en-dash"),
    pytest.param("Digitalisierung \u2014 08.10.", id="em-dash"),
    pytest.param("Digitalisierung: 08.10.", id="colon"),
    pytest.param("Re: Digitalisierung 08.10.", id="re-prefix"),
    pytest.param("AW: Digitalisierung 08.10.", id="aw-prefix"),
    pytest.param("WG: Digitalisierung 08.10.", id="wg-prefix"),
    pytest.param("Fwd: RE: Digitalisierung 08.10.", id="stacked-prefixes"),
    pytest.param("Anmeldung zur Veranstaltung Digitalisierung 08.10., 2 Personen", id="inside-a-sentence"),
]


@pytest.mark.parametrize("subject", SUBJECT_MATCHES)
def test_subject_matches(subject: str) -> None:
    """The keyword is found in the subject whatever its case, spacing, quoting, prefix or date form."""
    assert where(subject=subject) == "subject"


SUBJECT_MISSES = [
    pytest.param("Digitalisierung 09.10.", id="another-day"),
    pytest.param("Digitalisierung 18.10.", id="day-with-digit-before"),
    pytest.param("Digitalisierung 08.11.", id="another-month"),
    pytest.param("Digitalisierung 8.100", id="month-with-digit-after"),
    pytest.param("Digitalisierung 8.1", id="truncated-month"),
    pytest.param("Digitalisierung", id="word-alone"),
    pytest.param("Anmeldung 08.10.", id="date-alone"),
    pytest.param("Digitalisieung 08.10.", id="typo"),
    pytest.param("Bürgerdigitalisierung 08.10.", id="tail-of-longer-word"),
    pytest.param("Digitalisierungs 08.10.", id="longer-word"),
    pytest.param("", id="empty"),
]


@pytest.mark.parametrize("subject", SUBJECT_MISSES)
def test_subject_misses(subject: str) -> None:
    """Another date, the word or date alone, or another word never matches."""
    assert where(subject=subject) is None


# --- every event's keyword gets the same treatment ---------------------------------------------------------

KEYWORDS = [
    pytest.param("Digitalisierung 08.10.", "Digitalisierung", 8, 10, id="digitalisierung"),
    pytest.param("Bürgerbudget 12.03.", "Bürgerbudget", 12, 3, id="buergerbudget"),
    pytest.param("Klimaschutz 1.2.", "Klimaschutz", 1, 2, id="klimaschutz-short-date"),
    pytest.param("Stadtteilforum Nord 31.12.", "Stadtteilforum Nord", 31, 12, id="two-words"),
]


def _forms(word: str, day: int, month: int) -> list[str]:
    """Ways people write a keyword that must match."""
    return [
        f"{word} {day:02d}.{month:02d}.",
        f"{word} {day}.{month}",
        f"{word} {day}.{month:02d}",
        f"{word.lower()} {day:02d}.{month}.2021",
        f"{word.upper()} {day}. {month}.",
        f"Re: „{word}“ {day}.{month}.",
        f"AW: {word}\u00a0{day:02d}.{month:02d}.",
    ]


def _other_dates(word: str, day: int, month: int) -> list[str]:
    """Near misses of a keyword that must not match."""
    return [
        f"{word} {day % 28 + 1}.{month}.",
        f"{word} {day}.{month % 12 + 1}.",
        f"{word} 1{day}.{month}.",
        f"{word} {day}.{month}0",
        word,
    ]


@pytest.mark.parametrize(("keyword", "word", "day", "month"), KEYWORDS)
def test_every_keyword_tolerates_the_same_forms(keyword: str, word: str, day: int, month: int) -> None:
    """Any configured keyword matches with or without zeros, trailing dot, year, prefix or quotes."""
    pattern = compile_keyword(keyword)
    for subject in _forms(word, day, month):
        assert where(subject=subject, pattern=pattern) == "subject", subject


@pytest.mark.parametrize(("keyword", "word", "day", "month"), KEYWORDS)
def test_every_keyword_refuses_other_dates(keyword: str, word: str, day: int, month: int) -> None:
    """Any configured keyword refuses another day or month, extra digits and the word alone."""
    pattern = compile_keyword(keyword)
    for subject in _other_dates(word, day, month):
        assert where(subject=subject, pattern=pattern) is None, subject


@pytest.mark.parametrize(
    "subject",
    [
        pytest.param("Bürgerbudget 12.3", id="no-zero-on-month"),
        pytest.param("BÜRGERBUDGET 12.3.", id="upper-case-umlaut"),
        pytest.param("Buergerbudget 12.03.", id="umlaut-as-ue"),
        pytest.param("Bürgerbudget 12.03.2021", id="with-year"),
    ],
)
def test_month_and_umlaut_forms(subject: str) -> None:
    """A missing leading zero on the month and ue for ü are tolerated."""
    assert where(subject=subject, pattern=compile_keyword("Bürgerbudget 12.03.")) == "subject"


@pytest.mark.parametrize(
    ("keyword", "subject"),
    [
        pytest.param("Buergerbudget 12.03.", "Bürgerbudget 12.03.", id="ue-keyword-umlaut-mail"),
        pytest.param("Bürgerbudget 12.03.", "Buergerbudget 12.3.", id="umlaut-keyword-ue-mail"),
        pytest.param("Strasse der Zukunft 1.4.", "Straße der Zukunft 01.04.", id="ss-keyword-sharp-s-mail"),
        pytest.param("Straße der Zukunft 1.4.", "STRASSE DER ZUKUNFT 1.4.", id="sharp-s-keyword-ss-mail"),
        pytest.param("Oeffentlicher Raum 2.5.", "Öffentlicher Raum 2.5.", id="oe-keyword-capital-umlaut"),
        pytest.param("Aerztetag 3.6.", "Ärztetag 3.6.", id="ae-keyword"),
        pytest.param("Bürgerbudget 12.03.", "Bu\u0308rgerbudget 12.03.", id="decomposed-umlaut"),
    ],
)
def test_umlauts_fold_both_ways(keyword: str, subject: str) -> None:
    """ä/ö/ü/ß and ae/oe/ue/ss are the same, whichever of the two the keyword or the mail writes."""
    assert where(subject=subject, pattern=compile_keyword(keyword)) == "subject"
    assert where(text=f"Hallo,\n{subject}\nGruß", pattern=compile_keyword(keyword)) == "body"


def test_folding_keeps_words_exact() -> None:
    """Written-out umlauts are no typo tolerance: another word or date still does not match."""
    pattern = compile_keyword("Buergerbudget 12.03.")
    for subject in (
        "Burgerbudget 12.03.",
        "Bürgerbudgets 12.03.",
        "Bürgerbudget 13.03.",
        "Bürger budget 12.03.",
    ):
        assert where(subject=subject, pattern=pattern) is None, subject


def test_canonical_keywords_are_what_the_matcher_compares() -> None:
    """Keywords that match the same mails have the same canonical form (the config check relies on it)."""
    assert (
        canonical("Bürgerbudget 12.03.") == canonical("  BUERGERBUDGET 12.3 ") == ("buergerbudget", "12.3.")
    )
    assert canonical("„Straße“ 8.10.2020") == ("strasse", "8.10.")
    assert compile_keyword("Bürgerbudget 12.03.").pattern == compile_keyword("Buergerbudget 12.3.").pattern


def test_empty_keyword_is_refused() -> None:
    """A keyword without any word or date cannot be compiled (it would match everything)."""
    with pytest.raises(ValueError, match="empty keyword"):
        compile_keyword(" „“ ")


def test_matching_reports_each_event_named() -> None:
    """matching() returns every event the message names, with where it was found."""
    patterns = [
        ("digi", DIGI),
        ("budget", compile_keyword("Bürgerbudget 12.03.")),
        ("klima", compile_keyword("Klima 1.2.")),
    ]
    found = matching(patterns, "Digitalisierung 08.10.", "Und auch: Bürgerbudget 12.3.")
    assert found == [("digi", "subject"), ("budget", "body")]


# --- the body --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("Digitalisierung 08.10.", id="first-line"),
        pytest.param("Hallo,\n\nich melde mich an:\nDigitalisierung 08.10.\n\nGrüße", id="in-a-letter"),
        pytest.param("Hallo, bitte anmelden für Digitalisierung\n08.10. Danke", id="split-over-two-lines"),
        pytest.param("Digitalisierung\u202f08.10.", id="narrow-no-break-space"),
        pytest.param("Digitalisierung \u2011 08.10.", id="non-breaking-hyphen"),
        pytest.param(
            "Digitalisierung 08.10.\n\nAm 01.10.2020 um 10:00 schrieb Stadt <a@stadt.example>:\n> Text",
            id="own-words-above-a-quote",
        ),
    ],
)
def test_body_matches(text: str) -> None:
    """The keyword is found in the sender's own first lines, also when split over two lines."""
    assert where(text=text) == "body"


def test_subject_is_reported_before_body() -> None:
    """A keyword in subject and body is reported as found in the subject."""
    assert where(subject="Digitalisierung 08.10.", text="Digitalisierung 08.10.") == "subject"


QUOTED = [
    pytest.param("Hallo\n> Digitalisierung 08.10.", id="greater-than"),
    pytest.param("Hallo\n  > > Digitalisierung 08.10.", id="nested-indented-quote"),
    pytest.param(
        "Hallo\n\nAm 01.10.2020 um 10:00 schrieb Stadt <a@stadt.example>:\nDigitalisierung 08.10.",
        id="am-schrieb",
    ),
    pytest.param(
        "Hallo\n\nAm Do., 1. Okt. 2020 um 10:00 Uhr schrieb Stadt Anmeldung <a@stadt.example>:\n"
        "Digitalisierung 08.10.",
        id="am-schrieb-gmail",
    ),
    pytest.param(
        "Hi\n\nOn Thu, Oct 1, 2020 at 10:00 AM City <a@city.example> wrote:\nDigitalisierung 08.10.",
        id="on-wrote",
    ),
    pytest.param(
        "Hallo\n-----Ursprüngliche Nachricht-----\nDigitalisierung 08.10.", id="urspruengliche-nachricht"
    ),
    pytest.param("Hi\n-----Original Message-----\nDigitalisierung 08.10.", id="original-message"),
    pytest.param(
        "Hi\n---------- Forwarded message ---------\nDigitalisierung 08.10.", id="forwarded-message"
    ),
]


@pytest.mark.parametrize("text", QUOTED)
def test_quoted_text_never_triggers(text: str) -> None:
    """Quoted lines and everything after a quote header are someone else's words: no match."""
    assert where(text=text) is None


def _lines_then_keyword(filler: int, blank_between: bool = False) -> str:
    """A body with `filler` non-empty lines before the keyword line."""
    sep = "\n\n\n" if blank_between else "\n"
    return sep.join([*(f"Zeile {n} ohne Stichwort" for n in range(1, filler + 1)), "Digitalisierung 08.10."])


def test_keyword_on_the_last_counted_line_matches() -> None:
    """A keyword on the 10th non-empty line of the body is found."""
    assert where(text=_lines_then_keyword(BODY_LINES - 1)) == "body"


def test_keyword_on_line_eleven_is_ignored() -> None:
    """A keyword on the 11th non-empty line of the body is not looked at."""
    assert where(text=_lines_then_keyword(BODY_LINES)) is None


def test_empty_lines_are_not_counted() -> None:
    """Blank lines do not use up the 10 lines that are searched."""
    assert where(text=_lines_then_keyword(BODY_LINES - 1, blank_between=True)) == "body"


# --- through the parser: real mails ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "subject",
    [
        pytest.param("=?utf-8?q?Anmeldung_=E2=80=9EDigitalisierung=E2=80=9C_8.10.?=", id="q-utf-8"),
        pytest.param("=?UTF-8?B?QW5tZWxkdW5nIERpZ2l0YWxpc2llcnVuZyAwOC4xMC4=?=", id="b-utf-8"),
        pytest.param("=?iso-8859-1?q?AW:_Digitalisierung_08.10.?=", id="q-latin-1-with-prefix"),
        pytest.param("Re: =?utf-8?q?Digitalisierung?=\r\n =?utf-8?q?_08.10.?=", id="folded-encoded-words"),
    ],
)
def test_encoded_subjects_match(subject: str) -> None:
    """An RFC 2047-encoded subject is decoded before the keyword is looked for."""
    msg = parse_message(mail("From: hans@example.org", f"Subject: {subject}", body="Hallo\n"))
    assert where(subject=msg.subject, text=msg.text) == "subject"


def test_keyword_in_an_html_table_matches() -> None:
    """In an HTML-only mail the keyword is found across table cells and entities."""
    html = (
        "<html><body><p>Guten Tag,</p><table><tr><td>Veranstaltung:</td><td>Digitalisierung</td>"
        "<td>&nbsp;08.10.</td></tr></table><p>Gr&uuml;&szlig;e</p></body></html>"
    )
    raw = mail(
        "From: hans@example.org", "Subject: Anmeldung", "Content-Type: text/html; charset=utf-8", body=html
    )
    msg = parse_message(raw)
    assert where(subject=msg.subject, text=msg.text) == "body"


def test_html_quote_of_our_mail_does_not_trigger() -> None:
    """In an HTML reply the quoted mail below "Am … schrieb …:" does not count."""
    html = (
        "<div>Vielen Dank!</div><div class=gmail_quote><div>Am Do., 1. Okt. 2020 um 10:00 Uhr schrieb "
        "Anmeldung &lt;anmeldung@stadt.example&gt;:<br></div>"
        "<blockquote>Digitalisierung 08.10.</blockquote></div>"
    )
    raw = mail(
        "From: hans@example.org", "Subject: Danke", "Content-Type: text/html; charset=utf-8", body=html
    )
    msg = parse_message(raw)
    assert where(subject=msg.subject, text=msg.text) is None


def test_keyword_across_a_quoted_printable_soft_break_matches() -> None:
    """A keyword cut by a quoted-printable soft line break is found once decoded."""
    raw = mail(
        "From: hans@example.org",
        "Subject: Anmeldung",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: quoted-printable",
        body="Ich m=C3=B6chte mich anmelden: Digitali=\nsierung 08.10.\n",
    )
    msg = parse_message(raw)
    assert where(subject=msg.subject, text=msg.text) == "body"
