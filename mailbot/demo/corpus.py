"""Realistic mails for `mailbot demo` and the integration tests: deterministic per seed, stdlib only."""

from __future__ import annotations

import base64
import html.entities
import quopri
import random
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime
from functools import partial
from typing import Any, Generic, TypeVar

__all__ = ["KINDS", "CorpusMail", "build_corpus", "keyword_variants", "negative_variants"]

KINDS = ("registration", "repeat", "unrelated", "auto-reply")
CRLF = "\r\n"
_T = TypeVar("_T")


@dataclass(frozen=True)
class CorpusMail:
    """One generated message, as it lies in the mailbox."""

    raw: bytes  # the full RFC 5322 message: 7-bit, CRLF line endings, as a mail client would send it
    internaldate: datetime  # aware; strictly increasing through the corpus (arrival order)
    kind: str  # "registration" | "repeat" | "unrelated" | "auto-reply"
    sender: str  # addr-spec of From
    name: str  # display name ("" if none)
    machine: bool = False  # sent by a machine although its kind is "unrelated" (a list newsletter)

    @property
    def outcome(self) -> str:
        """The ledger outcome the desk records for it (the keys of a pass's outcome counts)."""
        if self.kind == "registration":
            return "registered"
        if self.kind == "repeat":
            return "duplicate"
        return "machine" if self.kind == "auto-reply" or self.machine else "not-registration"


# ------------------------------------------------------------------------------------------------------------
# The keyword and how people write it


_KEYWORD = re.compile(r"\s*(?P<words>.*?\S)\s+(?P<day>\d{1,2})\.(?P<month>\d{1,2})(?P<dot>\.?)\s*")


@dataclass(frozen=True)
class _Keyword:
    """A keyword split into its words and its trailing day.month. date (day 0: no date)."""

    words: str
    day: int = 0
    month: int = 0
    zero_day: bool = False
    zero_month: bool = False
    dot: bool = False

    @property
    def dated(self) -> bool:
        return self.day > 0

    def date(
        self,
        *,
        day: int = 0,
        month: int = 0,
        zeros: bool | None = None,
        dot: bool | None = None,
        year: int | None = None,
    ) -> str:
        """The date in the keyword's own style, with the given changes."""
        d, m = day or self.day, month or self.month
        zd = self.zero_day if zeros is None else zeros
        zm = self.zero_month if zeros is None else zeros
        text = (f"{d:02d}" if zd else str(d)) + "." + (f"{m:02d}" if zm else str(m))
        if year is not None:
            return f"{text}.{year}"
        return text + "." if (self.dot if dot is None else dot) else text

    def text(self, *, zeros: bool | None = None, dot: bool | None = None, year: int | None = None) -> str:
        """Words and date, the date changed as asked."""
        return f"{self.words} {self.date(zeros=zeros, dot=dot, year=year)}" if self.dated else self.words


def _parse_keyword(keyword: str) -> _Keyword:
    match = _KEYWORD.fullmatch(keyword)
    if match is None:
        words = " ".join(keyword.split())
        if not words:
            raise ValueError("the keyword is empty")
        return _Keyword(words)
    day, month = match["day"], match["month"]
    if not (1 <= int(day) <= 31 and 1 <= int(month) <= 12):
        raise ValueError(f"the keyword's date is not a day.month.: {keyword!r}")
    words = " ".join(match["words"].split())
    return _Keyword(words, int(day), int(month), len(day) == 2, len(month) == 2, bool(match["dot"]))


def _upper(text: str) -> str:
    """Upper case as Germans type it: "ß" stays (str.upper() would make "SS", which no longer matches)."""
    return "".join(ch if ch == "ß" else ch.upper() for ch in text)


def keyword_variants(keyword: str, *, year: int = 2020) -> list[str]:
    """The spellings of `keyword` people use that must still match, the exact one first.

    Derived from the keyword's words and its trailing dd.mm. date: lower and upper case, no trailing dot,
    no leading zeros (or added ones), a year after the date, „German“ or "straight" quotes, extra spaces.
    Re:/AW:/WG:/Fwd: prefixes are added at the subject level by the corpus.
    """
    k = _parse_keyword(keyword)
    exact = k.text()
    variants = [exact, exact.lower(), _upper(exact)]
    if k.dated:
        variants += [
            k.text(dot=False),
            k.text(zeros=False),
            k.text(zeros=False, dot=False),
            k.text(zeros=True),
            k.text(year=year),
            k.text(zeros=False, year=year).lower(),
        ]
    variants += [f"„{exact}“", f'"{exact}"']
    variants.append(f"{k.words.replace(' ', '  ')}   {k.date()}" if k.dated else exact.replace(" ", "  "))
    if k.dated:
        variants.append(k.text(zeros=False, dot=False).lower())
    return list(dict.fromkeys(variants))


def negative_variants(keyword: str) -> list[str]:
    """Near misses of `keyword` that must NOT match: other day or month, other word, word or date alone."""
    k = _parse_keyword(keyword)
    other_word = "Veranstaltung" if k.words.casefold() == "anmeldung" else "Anmeldung"
    if not k.dated:
        return [other_word, k.words[1:]]
    out = [
        f"{k.words} {k.date(day=k.day + 1 if k.day < 28 else k.day - 1)}",
        f"{k.words} {k.date(month=k.month + 1 if k.month < 12 else k.month - 1)}",
    ]
    if k.day < 10:  # "18.10." contains "8.10.": a matcher must not find the date inside another number
        out.append(f"{k.words} {k.date(day=k.day + 10)}")
    out += [f"{other_word} {k.date()}", k.words, k.date()]
    return out


# ------------------------------------------------------------------------------------------------------------
# Small helpers: shuffled decks, German time, transliteration


class _Deck(Generic[_T]):
    """Draws items in shuffled rounds: every item appears once per round, so small corpora still cover all."""

    def __init__(self, rng: random.Random, items: Sequence[_T]) -> None:
        self._rng = rng
        self._items = list(items)
        self._pool: list[_T] = []

    def draw(self) -> _T:
        if not self._pool:
            self._pool = list(self._items)
            self._rng.shuffle(self._pool)
        return self._pool.pop()


_NAME_TRIES = 200  # draws for an unused name before a namesake is accepted
_CET = timezone(timedelta(hours=1), "CET")
_CEST = timezone(timedelta(hours=2), "CEST")


def _table(text: str, sep: str | None = None) -> tuple[str, ...]:
    """A data table written as words (or `sep`-separated items), which reads better than one item a line."""
    return tuple(item.strip() for item in text.split(sep) if item.strip())


_WEEKDAYS = _table("Montag Dienstag Mittwoch Donnerstag Freitag Samstag Sonntag")
_MONTHS = _table("Januar Februar März April Mai Juni Juli August September Oktober November Dezember")


def _last_sunday(year: int, month: int) -> datetime:
    """01:00 UTC on the last Sunday of the month: when the EU switches summer time."""
    last = datetime(year + month // 12, month % 12 + 1, 1, 1, tzinfo=UTC) - timedelta(days=1)
    return last - timedelta(days=(last.weekday() + 1) % 7)


def _german_time(moment: datetime) -> datetime:
    """The wall clock in Germany (CET/CEST), which German mail programs write into Date."""
    utc = moment.astimezone(UTC)
    summer = _last_sunday(utc.year, 3) <= utc < _last_sunday(utc.year, 10)
    return utc.astimezone(_CEST if summer else _CET)


def _german_date(moment: datetime) -> str:
    """The date as Outlook writes it above a quote: "Freitag, 18. September 2020 10:15"."""
    local = _german_time(moment)
    return f"{_WEEKDAYS[local.weekday()]}, {local.day}. {_MONTHS[local.month - 1]} {local.year} {local:%H:%M}"


_TRANSLIT = str.maketrans(
    {"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ı": "i", "ł": "l"}
    | {"„": '"', "“": '"', "–": "-", "·": "-"}
)


def _ascii(text: str) -> str:
    """How people without umlauts on the keyboard write: "Grüße" -> "Gruesse", "Szymański" -> "Szymanski"."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_TRANSLIT))
    return "".join(ch for ch in decomposed if ch.isascii())


def _slug(text: str) -> str:
    """A name as it appears in an address: "Hans-Peter" -> "hans-peter", "Weiß" -> "weiss"."""
    return re.sub(r"[^a-z0-9-]", "", _ascii(text).lower())


# ------------------------------------------------------------------------------------------------------------
# People and places (the names mix the Ruhr's German, Polish and Turkish families)


_FEMALE = _table(
    """Ute Monika Sabine Petra Gisela Ingrid Renate Brigitte Karin Andrea Birgit Claudia Susanne Heike Anja
    Nicole Stefanie Julia Lena Hannah Käthe Bärbel Jutta Doris Elke Gabriele Marie Helga Rosemarie Dörte Maren
    Svenja Jasmin Sophie Renée Zoë Agnieszka Emine Anne-Kathrin Hülya"""
)
_MALE = _table(
    """Klaus Jürgen Günter Hans-Peter Wolfgang Dieter Horst Manfred Uwe Rainer Bernd Thomas Michael Andreas
    Stefan Frank Markus Jörg Björn Sören Torsten Sebastian Jan Lukas Felix Tim Mehmet Piotr Jens Heinz
    Karl-Heinz Friedhelm Ralf Detlef Hüseyin Kai Niklas Rüdiger Özgür Matthias"""
)
_LAST = _table(
    """Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Schäfer Koch Bauer Richter
    Klein Wolf Schröder Neumann Schwarz Zimmermann Braun Krüger Hartmann Lange Schmitz Krause Meier Lehmann
    Köhler Herrmann König Walter Kaiser Fuchs Peters Scholz Möller Weiß Jung Hahn Vogel Friedrich Keller
    Günther Berger Roth Lorenz Baumann Albrecht Böhm Winter Krämer Jäger Sommer Groß Brandt Haas Graf
    Dietrich Kühn Engel Busch Bergmann Voigt Pfeiffer Kowalski Nowak Yılmaz Öztürk Kaya Strauß Großmann
    Brückner Süßmuth Gödecke Nüßlein Dröge Lüdtke Schürmann Kötter Brinkhoff Tenhagen Wienecke Overbeck
    Szymański Grabowski Hülsmann Rüther Bußmann"""
)
_UMLAUT_LAST = tuple(n for n in _LAST if not n.isascii())
_STREETS = _table(
    """Wittener Straße|Bahnhofstraße|Lange Straße|Dortmunder Straße|Recklinghauser Straße|
    Bladenhorster Straße|Ickerner Straße|Habinghorster Straße|Schillerstraße|Am Markt|Mühlengasse|
    Karlstraße|Grüner Weg|Frohlinder Straße|Westring|Am Stadtgarten""",
    "|",
)
_PLZ = ("44575", "44577", "44579", "44581")
_TRADES = (  # (domain, firm name) of local firms whose staff register from work
    ("elektro-{s}.de", "Elektro {last} GmbH"),
    ("{s}-steuerberatung.de", "Steuerberatung {last}"),
    ("malerbetrieb-{s}.de", "Malerbetrieb {last}"),
    ("autohaus-{s}-castrop.de", "Autohaus {last}"),
    ("physio-{s}.de", "Praxis für Physiotherapie {last}"),
    ("baeckerei-{s}.de", "Bäckerei {last}"),
    ("{s}-immobilien.de", "{last} Immobilien"),
    ("kanzlei-{s}.de", "Kanzlei {last}"),
)
# The host each provider sends from (Received header); firms run their own "mail.<domain>".
_PROVIDER_HOSTS = {
    "gmx.de": "mout.gmx.net",
    "web.de": "mout.web.de",
    "t-online.de": "mailout02.t-online.de",
    "gmail.com": "mail-wr1-f54.google.com",
    "outlook.de": "EUR04-DB3-obe.outbound.protection.outlook.com",
    "freenet.de": "mout1.freenet.de",
    "posteo.de": "mout01.posteo.de",
    "icloud.com": "st43p00im-ztdg10073201.me.com",
}
_PROVIDER_MX = {"t-online.de": "mx00.t-online.de", "gmx.de": "mx00.emig.gmx.net", "web.de": "mx-ha02.web.de"}


@dataclass(frozen=True)
class _Person:
    """A sender: who they are, how their From header reads, where they live (for signatures)."""

    first: str
    last: str
    addr: str
    domain: str
    display: str  # "" when the From header has no display name
    bare: str = "plain"  # how a From without display name is written: "plain" addr or "angle" <addr>
    title: str = ""
    partner: str = ""
    firm: str = ""
    street: str = ""
    plz: str = ""
    phone: str = ""

    @property
    def signed(self) -> str:
        """The name under a letter: "Ute und Klaus Meier", "Dr. Jürgen Weiß"."""
        if self.partner:
            return f"{self.partner} und {self.first} {self.last}"
        return " ".join(x for x in (self.title, self.first, self.last) if x)


# How the From header shows a person: "Klaus Meier", none, "<addr>", "Meier, Klaus", "Dr. ...", a couple, ...
_FORMS = ("plain",) * 7 + ("none", "angle", "reversed", "reversed", "title", "couple", "lower")


# ------------------------------------------------------------------------------------------------------------
# Mail programs


@dataclass(frozen=True)
class _Client:
    """How one mail program writes a message."""

    name: str
    headers: tuple[tuple[str, str], ...] = ()
    layout: str = "plain"  # "plain" | "alternative" (text + html) | "html" (html only)
    charset: str = "UTF-8"  # as the program writes it in Content-Type
    text_cte: str = "qp"  # "qp" | "base64" | "auto" (7bit when ASCII, else quoted-printable)
    html_cte: str = "qp"
    html_style: str = ""
    word_charset: str = "UTF-8"  # of RFC 2047 encoded-words in headers
    word_enc: str = "Q"  # "Q" | "B"
    word_whole: bool = True  # encode the whole header value, or only the span of non-ASCII words
    reply: str = "Re: "
    forward: str = "Fwd: "
    msgid: str = "uuid"
    boundary: str = "none"
    quote_charset: bool = False  # charset="utf-8" rather than charset=utf-8
    flowed: bool = False  # RFC 3676 format=flowed
    mime_version: str = "1.0"
    footer: str = ""
    outlook_quote: bool = False  # "-----Ursprüngliche Nachricht-----" above quoted text
    headers_last: bool = False  # X-Mailer & co. after the MIME headers


_OUTLOOK = _Client(
    "outlook",
    layout="alternative",
    charset="iso-8859-1",
    html_style="outlook",
    word_charset="iso-8859-1",
    reply="AW: ",
    forward="WG: ",
    msgid="outlook",
    boundary="nextpart",
    quote_charset=True,
    outlook_quote=True,
    headers_last=True,
)
_OUTLOOK16 = replace(
    _OUTLOOK, name="outlook16", headers=(("X-Mailer", "Microsoft Outlook 16.0"), ("Content-Language", "de"))
)
_OUTLOOK_WEB = replace(
    _OUTLOOK,
    name="outlook-web",
    headers=(("Content-Language", "de-DE"), ("X-MS-Has-Attach", "no")),
    msgid="exchange",
    boundary="exchange",
)
_WINLIVE = replace(
    _OUTLOOK,
    name="windows-live-mail",
    headers=(
        ("X-Priority", "3"),
        ("X-MSMail-Priority", "Normal"),
        ("X-Mailer", "Microsoft Windows Live Mail 16.4.3528.331"),
        ("X-MimeOLE", "Produced By Microsoft MimeOLE V16.4.3528.331"),
    ),
    charset="iso-8859-15",
    word_charset="iso-8859-15",
    html_style="winlive",
    msgid="winlive",
)
_THUNDERBIRD = _Client(
    "thunderbird",
    (
        (
            "User-Agent",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:78.0) Gecko/20100101 Thunderbird/78.2.2",
        ),
        ("Content-Language", "de-DE"),
    ),
    text_cte="auto",
    word_whole=False,
    boundary="thunderbird",
    flowed=True,
)
_APPLE_MAIL = _Client(
    "apple-mail",
    (("X-Mailer", "Apple Mail (2.3608.120.23.2.1)"),),
    layout="alternative",
    charset="utf-8",
    html_style="apple",
    word_charset="utf-8",
    forward="WG: ",
    msgid="UUID",
    boundary="apple",
    mime_version="1.0 (Mac OS X Mail 13.4 \\(3608.120.23.2.1\\))",
)
_IPHONE = _Client(
    "iphone",
    (("X-Mailer", "iPhone Mail (17H35)"),),
    charset="utf-8",
    word_charset="utf-8",
    forward="WG: ",
    msgid="UUID",
    mime_version="1.0 (1.0)",
    footer="\n\nGesendet von meinem iPhone",
)
_IPHONE_B64 = replace(
    _IPHONE,
    name="iphone-base64",
    headers=(("X-Mailer", "iPhone Mail (18A373)"),),
    text_cte="base64",
    word_enc="B",
    reply="AW: ",
)
_GMX = _Client(
    "gmx-freemail",
    (
        ("X-Priority", "3"),
        ("Importance", "normal"),
        ("Sensitivity", "Normal"),
        ("X-UI-Message-Type", "mail"),
        ("X-Mailer", "GMX FreeMail"),
    ),
    layout="html",
    html_style="gmx",
    word_whole=False,
    reply="Aw: ",
    msgid="trinity",
    quote_charset=True,
)
_WEBDE = replace(
    _GMX,
    name="webde-freemail",
    headers=(("X-Priority", "3"), ("X-UI-Message-Type", "mail"), ("X-Mailer", "WEB.DE FreeMail")),
    html_style="paragraphs",
    word_enc="B",
    word_whole=True,
)
_GMAIL = _Client(
    "gmail",
    layout="alternative",
    text_cte="auto",
    html_cte="base64",
    html_style="gmail",
    word_enc="B",
    msgid="gmail",
    boundary="gmail",
    quote_charset=True,
)
_SAMSUNG = _Client(
    "samsung-email",
    layout="alternative",
    text_cte="base64",
    html_cte="base64",
    html_style="samsung",
    word_enc="B",
    reply="AW: ",
    forward="WG: ",
    msgid="android",
    boundary="samsung",
    footer="\n\nVon meinem Samsung Galaxy Smartphone gesendet.",
)
_ROUNDCUBE = _Client(
    "roundcube",
    (("User-Agent", "Roundcube Webmail/1.4.8"),),
    text_cte="auto",
    word_whole=False,
    msgid="hex",
    flowed=True,
)
_K9 = _Client(
    "k9-mail",
    (("User-Agent", "K-9 Mail for Android"),),
    word_enc="B",
    footer="\n\n-- \nDiese Nachricht wurde von meinem Android-Gerät mit K-9 Mail gesendet.",
)

# (domain, program): who writes from where. Drawn as a deck, so every pair appears once per round of 41.
_FIRM = "firm"
_SENDER_DECK: tuple[tuple[str, _Client], ...] = (
    *[("gmx.de", _GMX)] * 4,
    *[("gmx.de", c) for c in (_IPHONE, _THUNDERBIRD, _OUTLOOK16, _SAMSUNG)],
    *[("web.de", _WEBDE)] * 3,
    *[("web.de", c) for c in (_IPHONE_B64, _THUNDERBIRD, _WINLIVE)],
    *[("t-online.de", c) for c in (_OUTLOOK16, _OUTLOOK16, _THUNDERBIRD, _IPHONE, _WINLIVE, _SAMSUNG)],
    *[("gmail.com", c) for c in (_GMAIL, _GMAIL, _GMAIL, _SAMSUNG, _IPHONE, _K9)],
    *[("outlook.de", c) for c in (_OUTLOOK_WEB, _OUTLOOK_WEB, _OUTLOOK16)],
    *[("freenet.de", c) for c in (_ROUNDCUBE, _THUNDERBIRD)],
    *[("posteo.de", c) for c in (_ROUNDCUBE, _K9)],
    *[("icloud.com", c) for c in (_APPLE_MAIL, _APPLE_MAIL, _IPHONE, _IPHONE_B64)],
    *[(_FIRM, c) for c in (_OUTLOOK16, _OUTLOOK16, _THUNDERBIRD, _APPLE_MAIL)],
)


# ------------------------------------------------------------------------------------------------------------
# Encoding: RFC 2047 headers, RFC 2045 bodies, MIME structure


_ALNUM = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_Q_SAFE_TEXT = frozenset(_ALNUM + b"!*+-/.,:;()'")
_Q_SAFE_PHRASE = frozenset(_ALNUM + b"!*+-/")  # RFC 2047 §5 (3): the stricter set for a phrase
_PLAIN_PHRASE = re.compile(r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~ ]+")


def _fits(text: str, charset: str) -> bool:
    try:
        text.encode(charset)
    except UnicodeEncodeError:
        return False
    return True


def _charset_for(preferred: str, text: str) -> str:
    """The program's charset if the text fits, else what programs switch to (windows-1252, then UTF-8)."""
    if _fits(text, preferred):
        return preferred
    if preferred.lower().startswith("iso-8859") and _fits(text, "windows-1252"):
        return "windows-1252"
    return "utf-8" if preferred.islower() else "UTF-8"


def _encoded_word(text: str, charset: str, enc: str, *, phrase: bool) -> str:
    data = text.encode(charset)
    if enc == "B":
        payload = base64.b64encode(data).decode("ascii")
    else:
        safe = _Q_SAFE_PHRASE if phrase else _Q_SAFE_TEXT
        payload = "".join("_" if b == 0x20 else chr(b) if b in safe else f"={b:02X}" for b in data)
    return f"=?{charset}?{enc}?{payload}?="


def _encoded_words(text: str, charset: str, enc: str, *, phrase: bool = False) -> list[str]:
    """RFC 2047 encoded-words of at most 75 characters, split between characters (never inside one)."""
    words: list[str] = []
    chunk = ""
    for ch in text:
        if chunk and len(_encoded_word(chunk + ch, charset, enc, phrase=phrase)) > 75:
            words.append(_encoded_word(chunk, charset, enc, phrase=phrase))
            chunk = ""
        chunk += ch
    if chunk:
        words.append(_encoded_word(chunk, charset, enc, phrase=phrase))
    return words


def _unstructured(text: str, client: _Client) -> str:
    """A Subject-like value, RFC 2047 encoded as the program does: all of it, or the non-ASCII span only."""
    if text.isascii():
        return text
    charset = _charset_for(client.word_charset, text)
    if client.word_whole:
        return " ".join(_encoded_words(text, charset, client.word_enc))
    words = text.split(" ")
    wide = [i for i, w in enumerate(words) if not w.isascii()]
    first, last = wide[0], wide[-1]
    middle = _encoded_words(" ".join(words[first : last + 1]), charset, client.word_enc)
    head = [" ".join(words[:first])] if first else []
    tail = [" ".join(words[last + 1 :])] if last + 1 < len(words) else []
    return " ".join(head + middle + tail)


def _mailbox(name: str, addr: str, client: _Client) -> str:
    """name-addr of RFC 5322 §3.4: plain, quoted (for "Dr." or "Meier, Ute") or RFC 2047 encoded."""
    if not name:
        return addr
    if not name.isascii():
        charset = _charset_for(client.word_charset, name)
        return " ".join([*_encoded_words(name, charset, client.word_enc, phrase=True), f"<{addr}>"])
    if _PLAIN_PHRASE.fullmatch(name):
        return f"{name} <{addr}>"
    quoted = name.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{quoted}" <{addr}>'


def _header(name: str, value: str) -> str:
    """One header field, folded at existing spaces to keep lines under 78 characters (RFC 5322 §2.2.3)."""
    line = f"{name}: {value}"
    lines: list[str] = []
    start = len(name) + 2
    while len(line) > 76:
        cut = line.rfind(" ", start, 77)
        if cut <= 0:
            cut = line.find(" ", 77)
            if cut <= 0:
                break
        lines.append(line[:cut])
        line = line[cut:]
        start = 1
    lines.append(line)
    return CRLF.join(lines)


@dataclass(frozen=True)
class _Part:
    """A MIME entity: its header lines and its encoded body (CRLF, 7-bit)."""

    headers: tuple[str, ...]
    body: str


def _encode_body(data: bytes, cte: str) -> str:
    """Quoted-printable or base64 (RFC 2045 §6.7, §6.8) with CRLF line ends; base64 lines of 76."""
    if cte == "quoted-printable":
        return quopri.encodestring(data).decode("ascii").replace("\n", CRLF)
    return base64.encodebytes(data).decode("ascii").replace("\n", CRLF).rstrip(CRLF)


def _leaf(
    subtype: str, text: str, charset: str, cte: str, *, quote: bool = True, flowed: bool = False
) -> _Part:
    """A text/* part in the given charset and transfer encoding (7bit, quoted-printable or base64)."""
    if cte == "auto":
        cte = "7bit" if text.isascii() else "qp"
    if cte == "7bit":
        body = text.replace("\n", CRLF)
    elif cte == "qp":
        cte = "quoted-printable"
        body = _encode_body(text.encode(charset), cte)
    else:  # base64 encodes the canonical form: CRLF line ends (RFC 2045 §6.8)
        body = _encode_body(text.replace("\n", CRLF).encode(charset), cte)
    label = f'"{charset}"' if quote else charset
    ctype = f"Content-Type: text/{subtype}; charset={label}" + ("; format=flowed" if flowed else "")
    return _Part((ctype, f"Content-Transfer-Encoding: {cte}"), body)


def _multipart(
    subtype: str, boundary: str, parts: Sequence[_Part], *, preamble: str = "", params: str = ""
) -> _Part:
    lines = [preamble, ""] if preamble else []
    for part in parts:
        lines += [f"--{boundary}", *part.headers, "", part.body]
    lines += [f"--{boundary}--", ""]
    ctype = f'Content-Type: multipart/{subtype};{params}{CRLF}\tboundary="{boundary}"'
    return _Part((ctype,), CRLF.join(lines))


def _escape_html(text: str, charset: str, *, named: bool = False) -> str:
    """HTML text: markup characters escaped, what the charset lacks (or everything, `named`) as entities."""
    out: list[str] = []
    for ch in text:
        if ch in "&<>":
            out.append({"&": "&amp;", "<": "&lt;", ">": "&gt;"}[ch])
        elif not ch.isascii() and (named or not _fits(ch, charset)):
            entity = html.entities.codepoint2name.get(ord(ch))
            out.append(f"&{entity};" if named and entity else f"&#{ord(ch)};")
        else:
            out.append(ch)
    escaped = "".join(out).replace("  ", " &nbsp;")
    return "&nbsp;" + escaped[1:] if escaped.startswith(" ") else escaped


def _html_gmx(lines: Sequence[str], charset: str) -> str:  # noqa: ARG001 (one signature for all styles)
    body = "\n".join(f"<div>{line or '&nbsp;'}</div>" for line in lines)
    style = "font-family: Verdana;font-size: 12.0px;"
    return f'<html><head></head><body><div style="{style}">{body}</div></body></html>\n'


def _html_paragraphs(lines: Sequence[str], charset: str) -> str:  # noqa: ARG001
    paragraphs: list[list[str]] = [[]]
    for line in lines:
        if line:
            paragraphs[-1].append(line)
        elif paragraphs[-1]:
            paragraphs.append([])
    body = "\n".join("<p>" + "<br>\n".join(p) + "</p>" for p in paragraphs if p)
    return f"<html><head></head><body>\n{body}\n</body></html>\n"


def _html_outlook(lines: Sequence[str], charset: str) -> str:
    empty = '<p class="MsoNormal"><o:p>&nbsp;</o:p></p>'
    body = "\n".join(f'<p class="MsoNormal">{line}<o:p></o:p></p>' if line else empty for line in lines)
    return (
        f'<html><head><meta http-equiv="Content-Type" content="text/html; charset={charset}">\n'
        '<meta name="Generator" content="Microsoft Word 15 (filtered medium)">\n<style><!--\n'
        "p.MsoNormal, li.MsoNormal, div.MsoNormal\n"
        '\t{margin:0cm; font-size:11.0pt; font-family:"Calibri",sans-serif;}\n--></style></head>\n'
        '<body lang="DE" link="#0563C1" vlink="#954F72">\n<div class="WordSection1">\n'
        f"{body}\n</div>\n</body></html>\n"
    )


def _html_apple(lines: Sequence[str], charset: str) -> str:  # noqa: ARG001
    body = "".join(
        f'<div class="">{line}</div>' if line else '<div class=""><br class=""></div>' for line in lines
    )
    style = "word-wrap: break-word; -webkit-nbsp-mode: space; line-break: after-white-space;"
    return (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8"></head>'
        f'<body style="{style}" class="">{body}</body></html>'
    )


def _html_samsung(lines: Sequence[str], charset: str) -> str:  # noqa: ARG001
    body = "".join(f'<div dir="auto">{line or "<br>"}</div>' for line in lines)
    return (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=UTF-8"></head>'
        f"<body>{body}</body></html>"
    )


def _html_winlive(lines: Sequence[str], charset: str) -> str:  # noqa: ARG001
    body = "\n".join(f"<DIV>{line or '&nbsp;'}</DIV>" for line in lines)
    return (
        "<HTML><HEAD></HEAD>\n<BODY dir=ltr>\n<DIV dir=ltr>\n"
        "<DIV style=\"FONT-FAMILY: 'Calibri'; COLOR: #000000; FONT-SIZE: 12pt\">\n"
        f"{body}</DIV></DIV></BODY></HTML>\n"
    )


def _html_gmail(lines: Sequence[str], charset: str) -> str:  # noqa: ARG001
    body = "".join(f"<div>{line or '<br>'}</div>" for line in lines)
    return f'<div dir="ltr">{body}</div>\n'


_HTML_STYLES: dict[str, Callable[[Sequence[str], str], str]] = {
    "gmx": _html_gmx,
    "paragraphs": _html_paragraphs,
    "outlook": _html_outlook,
    "apple": _html_apple,
    "samsung": _html_samsung,
    "winlive": _html_winlive,
    "gmail": _html_gmail,
}


def _html(style: str, lines: Sequence[str], charset: str, nbsp: str | None) -> str:
    """The HTML a program makes of the typed lines: GMX divs, Outlook's MsoNormal, Gmail's dir=ltr, ..."""
    escaped = [_escape_html(line, charset, named=style == "winlive") for line in lines]
    if nbsp:  # the web editor kept a non-breaking space the user typed between keyword and date
        plain = _escape_html(nbsp, charset)
        escaped = [line.replace(plain, plain.replace(" ", "&nbsp;")) for line in escaped]
    return _HTML_STYLES[style](escaped, charset)


# ------------------------------------------------------------------------------------------------------------
# The generator's state


@dataclass
class _Context:
    """Everything the renderers share: the seeded random source, the keyword, uniqueness bookkeeping."""

    rng: random.Random
    keyword: str
    kw: _Keyword
    to: str
    year: int
    invited: datetime  # when the city sent the invitation people reply to and forward
    variants: list[str]
    invite_id: str = ""
    used_addrs: set[str] = field(default_factory=set)
    used_names: set[tuple[str, str]] = field(default_factory=set)
    used_ids: set[str] = field(default_factory=set)
    first_ids: dict[str, str] = field(
        default_factory=dict
    )  # casefolded sender -> Message-ID of the first mail
    decks: dict[str, _Deck[Any]] = field(default_factory=dict)

    @property
    def to_domain(self) -> str:
        return self.to.rpartition("@")[2].lower()

    def draw(self, name: str, items: Sequence[_T]) -> _T:
        """The next item of the named deck (created on first use)."""
        deck = self.decks.setdefault(name, _Deck(self.rng, items))
        item: _T = deck.draw()
        return item

    def token(self, alphabet: str, length: int) -> str:
        return "".join(self.rng.choice(alphabet) for _ in range(length))

    def uuid(self) -> str:
        h = f"{self.rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{h[16:20]}-{h[20:]}"

    def message_id(self, style: str, domain: str, when: datetime) -> str:
        """A fresh Message-ID in the style of the program, on the sender's domain (RFC 5322 §3.6.4)."""
        while True:
            ident = f"<{self._id_left(style, when)}@{domain}>"
            if ident not in self.used_ids:
                self.used_ids.add(ident)
                return ident

    def _id_left(self, style: str, when: datetime) -> str:
        r, hexdigits = self.rng, "0123456789abcdef"
        makers: dict[str, Callable[[], str]] = {
            "outlook": lambda: f"{r.getrandbits(48):012x}${r.getrandbits(32):08x}${r.getrandbits(32):08x}$",
            "exchange": lambda: f"AM6PR08MB{r.randint(1000, 9999)}{self.token(hexdigits.upper(), 24)}",
            "uuid": self.uuid,
            "UUID": lambda: self.uuid().upper(),
            "trinity": lambda: f"trinity-{self.uuid()}-{int(when.timestamp() * 1000)}",
            "gmail": lambda: "CA" + base64.urlsafe_b64encode(r.randbytes(30)).decode("ascii"),
            "android": lambda: f"{r.getrandbits(40):x}.{self.token(hexdigits, 8)}",
            "winlive": lambda: self.token(hexdigits.upper(), 32),
            "hex": lambda: self.token(hexdigits, 32),
            "postfix": lambda: f"{_german_time(when):%Y%m%d%H%M%S}.{self.token('BCDFGHJKLMNPQRSTVWXYZ', 12)}",
        }
        return makers[style]()

    def name_pair(self, *, umlaut: bool = False) -> tuple[str, str, bool]:
        """(first, last, female): a name nobody else in the corpus has, while there are such names left.

        A corpus larger than the name tables (tens of thousands of mails, for benchmarks) gets namesakes,
        as a city does; their addresses still differ (see `_local_part`).
        """
        for _ in range(_NAME_TRIES):
            female = self.rng.random() < 0.5
            first = self.rng.choice(_FEMALE if female else _MALE)
            last = self.rng.choice(_UMLAUT_LAST if umlaut else _LAST)
            if (first.casefold(), last.casefold()) not in self.used_names:
                self.used_names.add((first.casefold(), last.casefold()))
                return first, last, female
        return first, last, female

    def person(self, domain: str, form: str | None = None) -> _Person:
        """A new sender at `domain` (or at a local firm) with an address nobody else in the corpus has."""
        r = self.rng
        form = form or self.draw("form", _FORMS)
        first, last, female = self.name_pair(umlaut=form == "reversed" and r.random() < 0.6)
        partner = r.choice(_MALE if female else _FEMALE) if form == "couple" else ""
        firm = ""
        if domain == _FIRM:
            domain_pattern, firm_pattern = self.draw("trade", _TRADES)
            domain, firm = domain_pattern.format(s=_slug(last)), firm_pattern.format(last=last)
        local = self._local_part(
            domain, f=_slug(first), last=_slug(last), partner=_slug(partner), firm=firm, form=form
        )
        if not firm and r.random() < 0.12:  # some providers show (and people copy) "Klaus.Meier@t-online.de"
            local = ".".join(p.capitalize() for p in local.split("."))
        addr = f"{local}@{domain}"
        self.used_addrs.add(addr.casefold())
        display = {
            "plain": f"{first} {last}",
            "reversed": f"{last}, {first}",
            "title": f"Dr. {first} {last}",
            "couple": f"{partner} und {first} {last}",
            "lower": f"{first} {last}".lower(),
        }.get(form, "")
        if local == "info":
            display = firm
        street = f"{r.choice(_STREETS)} {r.randint(1, 180)}"
        phone = (
            f"02305 {r.randint(20000, 999999)}" if r.random() < 0.7 else f"0171 {r.randint(1000000, 9999999)}"
        )
        return _Person(
            first,
            last,
            addr,
            domain,
            display,
            bare="angle" if form == "angle" else "plain",
            title="Dr." if form == "title" else "",
            partner=partner,
            firm=firm,
            street=street,
            plz=r.choice(_PLZ),
            phone=phone,
        )

    def _local_part(self, domain: str, *, f: str, last: str, partner: str, firm: str, form: str) -> str:
        r = self.rng
        yy = r.randint(48, 99)
        if partner:
            options = [f"{last}.familie", f"familie.{last}", f"{partner[0]}{f[0]}.{last}", f"{last}{yy}"]
        elif firm:
            options = [f"{f[0]}.{last}", f"{f}.{last}", last, "info" if form == "none" else f"{f}.{last}"]
        else:
            options = [f"{f}.{last}", f"{f}{last}", f"{f[0]}.{last}", f"{last}.{f}", f"{f}.{last}{yy}"]
            options += [f"{last}{r.randint(1, 999)}", f"{f}_{last}", f"{f}{last}19{yy}"]
        r.shuffle(options)
        options.append(f"{f}.{last}{r.randint(1000, 9999)}")
        for option in options:
            if f"{option}@{domain}".casefold() not in self.used_addrs:
                return option
        while True:  # a namesake took every usual form: a number nobody has yet
            option = f"{f}.{last}{r.randint(10000, 999999)}"
            if f"{option}@{domain}".casefold() not in self.used_addrs:
                return option


# ------------------------------------------------------------------------------------------------------------
# What people write


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
_TEMPLATES = ("formal", "formal", "informal", "address", "first_line", "question", "oneliner", "stichwort")
_GREETINGS = (
    "Mit freundlichen Grüßen",
    "Freundliche Grüße",
    "Viele Grüße",
    "MfG",
    "Liebe Grüße",
    "Gruß",
    "Beste Grüße",
    "Mit freundlichem Gruß",
)


def _letter_lines(ctx: _Context, template: str, p: _Person, kw: str | None) -> list[str]:
    """The typed lines of a letter; `kw` is the keyword as written, None when it is only in the subject."""
    fields = {
        "kw": kw or "",
        "greet": ctx.draw("greeting", _GREETINGS),
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


def _invitation(ctx: _Context) -> list[str]:
    """The city's invitation, as it appears quoted in replies and forwards."""
    return [
        "Liebe Bürgerinnen und Bürger,",
        "",
        "wir laden Sie herzlich zu unserer Online-Veranstaltung per Zoom ein.",
        f"Anmeldung bitte per E-Mail an {ctx.to} mit dem Stichwort",
        f"„{ctx.keyword}“. Die Zahl der Plätze ist begrenzt.",
    ]


def _quoted(ctx: _Context, client: _Client, *, forward: bool) -> list[str]:
    """The invitation below a reply ("> ") or a forward, with the header line the program writes."""
    sent = _german_time(ctx.invited)
    if client.outlook_quote:
        return [
            "",
            "",
            "-----Ursprüngliche Nachricht-----",
            f"Von: {ctx.to}",
            f"Gesendet: {_german_date(ctx.invited)}",
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


def _signature(p: _Person, client: _Client) -> list[str]:
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
_SUBJECT_FORMS = (
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
_REPLY = re.compile(r"(re|aw):", re.IGNORECASE)
_FORWARD = re.compile(r"(fwd?|wg):", re.IGNORECASE)
_BODY_ONLY_SUBJECTS: tuple[str | None, ...] = (  # None: no Subject header at all
    "Anmeldung",
    "",
    None,
    "Teilnahme",
    "Anmeldung Bürgerdialog",
    "Zoom-Veranstaltung",
    "Anmeldung zur Online-Veranstaltung",
    "Teilnahme am Bürgerdialog",
)
_PLACEMENTS = ("subject",) * 5 + ("body",) * 3 + ("both",) * 2
_DATE_STYLES = ("normal",) * 12 + ("utc", "comment", "noweekday", "past", "future", "wrong_zone", "last_year")
_TO_FORMS = ("plain", "plain", "plain", "angle", "label", "outlook")


# ------------------------------------------------------------------------------------------------------------
# Rendering one message


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


# ------------------------------------------------------------------------------------------------------------
# Registrations and repeats


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


# ------------------------------------------------------------------------------------------------------------
# Unrelated mail and robots


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


def _unrelated(ctx: _Context, index: int, arrival: datetime) -> CorpusMail:
    """Ordinary office mail; some name the topic or the date, or the keyword with another date, never it."""
    slot = index % 8
    if slot == 1:
        return _newsletter(ctx, arrival)
    if slot == 3:
        return _invoice(ctx, arrival)
    domain, client = ctx.draw("sender", _SENDER_DECK)
    p = ctx.person(domain, "plain")
    fields = {
        "street": p.street,
        "plz": p.plz,
        "words": ctx.kw.words,
        "wrong": negative_variants(ctx.keyword)[0],
    }
    subject, lines = _OFFICE_MAIL[slot]
    body = (*(line.format(**fields) for line in lines), "", ctx.draw("greeting", _GREETINGS), p.signed)
    letter = _Letter(client, p, subject.format(**fields), body, ctx.draw("date", _DATE_STYLES))
    return _render_letter(ctx, "unrelated", letter, arrival)


def _newsletter(ctx: _Context, arrival: datetime) -> CorpusMail:
    """A list newsletter (RFC 2369 List-*, Precedence: bulk) naming the topic, and the date elsewhere."""
    k, domain = ctx.kw, "digitale-kommune-nrw.de"
    month = _MONTHS[_german_time(arrival).month - 1]
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
    letter = _Letter(
        replace(_APPLE_MAIL, headers=(), msgid="hex", boundary="none"),
        _Person("", "", f"newsletter@{domain}", domain, "Digitale Kommune NRW"),
        f"Newsletter {month}: {k.words} in der Kommune",
        lines,
        extra=(
            ("List-Id", f"Newsletter Digitale Kommune <newsletter.{domain}>"),
            ("List-Unsubscribe", unsubscribe),
            ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
            ("Precedence", "bulk"),
        ),
    )
    raw = _compose(ctx, letter, arrival, return_path=f"bounce-{token}@{domain}")
    return replace(_mail("unrelated", raw, arrival, letter), machine=True)


_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)


def _invoice(ctx: _Context, arrival: datetime) -> CorpusMail:
    """A supplier's invoice with a PDF attachment (multipart/mixed), due on the event's date (no keyword)."""
    first, last, _ = ctx.name_pair()
    domain = f"druckerei-{_slug(last)}.de"
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
    attachment = _Part(
        (
            f'Content-Type: application/pdf;{CRLF}\tname="{filename}"',
            "Content-Transfer-Encoding: base64",
            f'Content-Disposition: attachment;{CRLF}\tfilename="{filename}"',
        ),
        _encode_body(_PDF, "base64"),
    )
    root = _multipart(
        "mixed",
        _boundary(ctx, "nextpart"),
        [_leaf("plain", text, _charset_for(_OUTLOOK16.charset, text), "qp"), attachment],
        preamble="This is a multi-part message in MIME format.",
    )
    p = _Person(first, last, f"buchhaltung@{domain}", domain, f"Druckerei {last} GmbH")
    letter = _Letter(_OUTLOOK16, p, f"Rechnung {number}", ())
    return _mail("unrelated", _compose(ctx, letter, arrival, root=root), arrival, letter)


def _auto_reply(ctx: _Context, index: int, arrival: datetime, bounced: _Person | None) -> CorpusMail:
    """Robots answering (RFC 3834): out-of-office replies, and a delivery failure report (RFC 3464)."""
    slot = index % 4
    if slot == 1:
        return _bounce(ctx, arrival, bounced)
    extra: tuple[tuple[str, str], ...]
    if slot == 0:  # Exchange's out-of-office, with the keyword in the subject
        p = ctx.person(_FIRM, "plain")
        until = _german_time(arrival + timedelta(days=ctx.rng.randint(3, 14)))
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
            ("Thread-Topic", _unstructured(ctx.keyword, _OUTLOOK16)),
            ("Auto-Submitted", "auto-replied"),
            ("X-Auto-Response-Suppress", "All"),
        )
        subject = f"Automatische Antwort: {ctx.keyword}"
        letter = _Letter(_OUTLOOK16, p, subject, lines, extra=extra, reply_to_invitation=True)
    elif slot == 2:  # Gmail's vacation responder: looks like a reply, only Auto-Submitted tells
        p = ctx.person("gmail.com", "plain")
        lines = ("Hallo,", "", "ich bin bis zum 4. Oktober im Urlaub.", "", "Viele Grüße", p.first)
        extra = (("Auto-Submitted", "auto-replied"),)
        letter = _Letter(_GMAIL, p, f"Re: {ctx.keyword}", lines, extra=extra, reply_to_invitation=True)
    else:  # an old vacation program: only X-Autoreply and Precedence tell
        p = ctx.person("gmx.de", "plain")
        lines = (
            "Ich bin zurzeit nicht erreichbar.",
            "Ihre Nachricht wird nicht weitergeleitet.",
            "",
            p.signed,
        )
        extra = (("X-Autoreply", "yes"), ("Precedence", "junk"))
        letter = _Letter(_THUNDERBIRD, p, f"Abwesenheitsnotiz: {ctx.keyword}", lines, extra=extra)
    return _render_letter(ctx, "auto-reply", letter, arrival)


def _bounce(ctx: _Context, arrival: datetime, bounced: _Person | None) -> CorpusMail:
    """Postfix's bounce of our confirmation (RFC 3464 multipart/report), returning it (keyword included)."""
    mta = f"mail.{ctx.to_domain}"
    daemon = f"MAILER-DAEMON@{mta}"
    rcpt = bounced.addr if bounced else f"m.muster{ctx.rng.randint(10, 99)}@t-online.de"
    remote = _PROVIDER_MX.get(rcpt.rpartition("@")[2].lower(), f"mx.{rcpt.rpartition('@')[2].lower()}")
    sent = _german_time(arrival - timedelta(seconds=ctx.rng.randint(3, 30)))
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
    reply = _leaf(
        "plain", f"Guten Tag,\n\nvielen Dank für Ihre Anmeldung zu „{ctx.keyword}“.\n", "utf-8", "qp"
    )
    returned = [
        f"Received: by {mta} (Postfix, from userid 998){CRLF}\tid {ctx.token(queue_alphabet, 12)}; "
        f"{format_datetime(sent)} ({sent.tzname()})",
        f"From: {ctx.to}",
        f"To: {rcpt}",
        _header("Subject", _unstructured(f"Re: {ctx.keyword}", _THUNDERBIRD)),
        f"Date: {format_datetime(sent)}",
        f"Message-ID: {ctx.message_id('hex', ctx.to_domain, sent)}",
        "Auto-Submitted: auto-replied",
        "MIME-Version: 1.0",
        *reply.headers,
        "",
        reply.body,
    ]
    parts = [
        _Part(
            ("Content-Description: Notification", 'Content-Type: text/plain; charset="us-ascii"'),
            CRLF.join(notice),
        ),
        _Part(
            ("Content-Description: Delivery report", "Content-Type: message/delivery-status"),
            CRLF.join(status),
        ),
        _Part(
            ("Content-Description: Undelivered Message", "Content-Type: message/rfc822"), CRLF.join(returned)
        ),
    ]
    root = _multipart(
        "report",
        f"{qid}.{int(arrival.timestamp())}/{mta}",
        parts,
        preamble="This is a MIME-encapsulated message.",
        params=" report-type=delivery-status;",
    )
    local = _german_time(arrival)
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


# ------------------------------------------------------------------------------------------------------------
# The corpus


@dataclass(frozen=True)
class _Draft:
    """A mail whose place in the arrival order is known; rendered once its INTERNALDATE is."""

    key: float
    render: Callable[[datetime], CorpusMail]


def build_corpus(
    *,
    registrations: int = 90,
    repeats: int = 3,
    unrelated: int = 5,
    auto_replies: int = 2,
    keyword: str = "Digitalisierung 08.10.",
    to: str = "digitalisierung@castrop-rauxel.de",
    start: datetime = datetime(2020, 9, 21, 8, 0, tzinfo=UTC),
    seed: int = 8,
) -> list[CorpusMail]:
    """A mailbox's worth of realistic mail in arrival order; the same arguments give the same bytes.

    `registrations` mails from distinct new senders (compared case-insensitively) in varied styles, `repeats`
    later mails from some of them, `unrelated` office mail without the keyword, `auto_replies` robots (an
    out-of-office with the keyword in its subject, a bounce quoting it, ...), interleaved. INTERNALDATEs
    start at `start` and grow by 5 s to 20 min; Date headers mostly agree, but some lie.
    """
    counts = {"registrations": registrations, "repeats": repeats, "unrelated": unrelated}
    for name, count in {**counts, "auto_replies": auto_replies}.items():
        if count < 0:
            raise ValueError(f"{name} must not be negative: {count}")
    if repeats > registrations:
        raise ValueError(f"repeats ({repeats}) need as many registrations ({registrations})")
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    rng = random.Random(seed)  # noqa: S311 (test data, not cryptography)
    invited = start - timedelta(days=3, hours=-2)
    variants = keyword_variants(keyword, year=start.year)
    ctx = _Context(rng, " ".join(keyword.split()), _parse_keyword(keyword), to, start.year, invited, variants)
    ctx.invite_id = ctx.message_id("hex", ctx.to_domain, invited)

    # Registrations keep their order; the others get a random place (a repeat after its original).
    letters = [_plan_registration(ctx) for _ in range(registrations)]
    drafts = [
        _Draft(i, partial(_render_letter, ctx, "registration", letter)) for i, letter in enumerate(letters)
    ]
    for index, original in enumerate(rng.sample(range(registrations), repeats)):
        repeat = partial(_render_letter, ctx, "repeat", _plan_repeat(ctx, letters[original], index))
        drafts.append(_Draft(rng.uniform(original + 0.5, registrations + 1), repeat))
    for index in range(unrelated):
        drafts.append(_Draft(rng.uniform(-0.5, registrations), partial(_unrelated, ctx, index)))
    for index in range(auto_replies):
        bounced = rng.randrange(registrations) if registrations else None
        person = None if bounced is None else letters[bounced].person
        low = bounced + 0.5 if bounced is not None and index % 4 == 1 else -0.5
        drafts.append(
            _Draft(rng.uniform(low, registrations + 1), partial(_auto_reply, ctx, index, bounced=person))
        )
    drafts.sort(key=lambda d: d.key)

    mails: list[CorpusMail] = []
    arrival = start
    for n, draft in enumerate(drafts):
        if n:
            arrival += timedelta(seconds=rng.randint(5, 1200))
        mails.append(draft.render(arrival))
    return mails
