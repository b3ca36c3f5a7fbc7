"""Shuffled decks, German time, transliteration, and the people and places mails come from."""

from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Generic

from mailbot.demo.corpus.model import _T


class Deck(Generic[_T]):
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


NAME_TRIES = 200  # draws for an unused name before a namesake is accepted
_CET = timezone(timedelta(hours=1), "CET")
_CEST = timezone(timedelta(hours=2), "CEST")


def _table(text: str, sep: str | None = None) -> tuple[str, ...]:
    """A data table written as words (or `sep`-separated items), which reads better than one item a line."""
    return tuple(item.strip() for item in text.split(sep) if item.strip())


_WEEKDAYS = _table("Montag Dienstag Mittwoch Donnerstag Freitag Samstag Sonntag")
MONTHS = _table("Januar Februar März April Mai Juni Juli August September Oktober November Dezember")


def _last_sunday(year: int, month: int) -> datetime:
    """01:00 UTC on the last Sunday of the month: when the EU switches summer time."""
    last = datetime(year + month // 12, month % 12 + 1, 1, 1, tzinfo=UTC) - timedelta(days=1)
    return last - timedelta(days=(last.weekday() + 1) % 7)


def german_time(moment: datetime) -> datetime:
    """The wall clock in Germany (CET/CEST), which German mail programs write into Date."""
    utc = moment.astimezone(UTC)
    summer = _last_sunday(utc.year, 3) <= utc < _last_sunday(utc.year, 10)
    return utc.astimezone(_CEST if summer else _CET)


def german_date(moment: datetime) -> str:
    """The date as Outlook writes it above a quote: "Freitag, 18. September 2020 10:15"."""
    local = german_time(moment)
    return f"{_WEEKDAYS[local.weekday()]}, {local.day}. {MONTHS[local.month - 1]} {local.year} {local:%H:%M}"


_TRANSLIT = str.maketrans(
    {"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ı": "i", "ł": "l"}
    | {"„": '"', "“": '"', "–": "-", "·": "-"}
)


def to_ascii(text: str) -> str:
    """How people without umlauts on the keyboard write: "Grüße" -> "Gruesse", "Szymański" -> "Szymanski"."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_TRANSLIT))
    return "".join(ch for ch in decomposed if ch.isascii())


def slug(text: str) -> str:
    """A name as it appears in an address: "Hans-Peter" -> "hans-peter", "Weiß" -> "weiss"."""
    return re.sub(r"[^a-z0-9-]", "", to_ascii(text).lower())


FEMALE = _table(
    """Ute Monika Sabine Petra Gisela Ingrid Renate Brigitte Karin Andrea Birgit Claudia Susanne Heike Anja
    Nicole Stefanie Julia Lena Hannah Käthe Bärbel Jutta Doris Elke Gabriele Marie Helga Rosemarie Dörte Maren
    Svenja Jasmin Sophie Renée Zoë Agnieszka Emine Anne-Kathrin Hülya"""
)
MALE = _table(
    """Klaus Jürgen Günter Hans-Peter Wolfgang Dieter Horst Manfred Uwe Rainer Bernd Thomas Michael Andreas
    Stefan Frank Markus Jörg Björn Sören Torsten Sebastian Jan Lukas Felix Tim Mehmet Piotr Jens Heinz
    Karl-Heinz Friedhelm Ralf Detlef Hüseyin Kai Niklas Rüdiger Özgür Matthias"""
)
LAST = _table(
    """Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Schäfer Koch Bauer Richter
    Klein Wolf Schröder Neumann Schwarz Zimmermann Braun Krüger Hartmann Lange Schmitz Krause Meier Lehmann
    Köhler Herrmann König Walter Kaiser Fuchs Peters Scholz Möller Weiß Jung Hahn Vogel Friedrich Keller
    Günther Berger Roth Lorenz Baumann Albrecht Böhm Winter Krämer Jäger Sommer Groß Brandt Haas Graf
    Dietrich Kühn Engel Busch Bergmann Voigt Pfeiffer Kowalski Nowak Yılmaz Öztürk Kaya Strauß Großmann
    Brückner Süßmuth Gödecke Nüßlein Dröge Lüdtke Schürmann Kötter Brinkhoff Tenhagen Wienecke Overbeck
    Szymański Grabowski Hülsmann Rüther Bußmann"""
)
UMLAUT_LAST = tuple(n for n in LAST if not n.isascii())
STREETS = _table(
    """Wittener Straße|Bahnhofstraße|Lange Straße|Dortmunder Straße|Recklinghauser Straße|
    Bladenhorster Straße|Ickerner Straße|Habinghorster Straße|Schillerstraße|Am Markt|Mühlengasse|
    Karlstraße|Grüner Weg|Frohlinder Straße|Westring|Am Stadtgarten""",
    "|",
)
PLZ = ("44575", "44577", "44579", "44581")
TRADES = (  # (domain, firm name) of local firms whose staff register from work
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
PROVIDER_HOSTS = {
    "gmx.de": "mout.gmx.net",
    "web.de": "mout.web.de",
    "t-online.de": "mailout02.t-online.de",
    "gmail.com": "mail-wr1-f54.google.com",
    "outlook.de": "EUR04-DB3-obe.outbound.protection.outlook.com",
    "freenet.de": "mout1.freenet.de",
    "posteo.de": "mout01.posteo.de",
    "icloud.com": "st43p00im-ztdg10073201.me.com",
}
PROVIDER_MX = {"t-online.de": "mx00.t-online.de", "gmx.de": "mx00.emig.gmx.net", "web.de": "mx-ha02.web.de"}


@dataclass(frozen=True)
class Person:
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
FORMS = ("plain",) * 7 + ("none", "angle", "reversed", "reversed", "title", "couple", "lower")
