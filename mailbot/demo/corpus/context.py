"""The generator's state: the random source, names and addresses already used, message ids."""

from __future__ import annotations

import base64
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mailbot.demo.corpus.clients import FIRM
from mailbot.demo.corpus.keywords import Keyword
from mailbot.demo.corpus.model import _T
from mailbot.demo.corpus.people import (
    FEMALE,
    FORMS,
    LAST,
    MALE,
    NAME_TRIES,
    PLZ,
    STREETS,
    TRADES,
    UMLAUT_LAST,
    Deck,
    Person,
    german_time,
    slug,
)


@dataclass
class Context:
    """Everything the renderers share: the seeded random source, the keyword, uniqueness bookkeeping."""

    rng: random.Random
    keyword: str
    kw: Keyword
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
    decks: dict[str, Deck[Any]] = field(default_factory=dict)

    @property
    def to_domain(self) -> str:
        return self.to.rpartition("@")[2].lower()

    def draw(self, name: str, items: Sequence[_T]) -> _T:
        """The next item of the named deck (created on first use)."""
        deck = self.decks.setdefault(name, Deck(self.rng, items))
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
            "postfix": lambda: f"{german_time(when):%Y%m%d%H%M%S}.{self.token('BCDFGHJKLMNPQRSTVWXYZ', 12)}",
        }
        return makers[style]()

    def name_pair(self, *, umlaut: bool = False) -> tuple[str, str, bool]:
        """(first, last, female): a name nobody else in the corpus has, while there are such names left.

        A corpus larger than the name tables (tens of thousands of mails, for benchmarks) gets namesakes,
        as a city does; their addresses still differ (see `_local_part`).
        """
        for _ in range(NAME_TRIES):
            female = self.rng.random() < 0.5
            first = self.rng.choice(FEMALE if female else MALE)
            last = self.rng.choice(UMLAUT_LAST if umlaut else LAST)
            if (first.casefold(), last.casefold()) not in self.used_names:
                self.used_names.add((first.casefold(), last.casefold()))
                return first, last, female
        return first, last, female

    def person(self, domain: str, form: str | None = None) -> Person:
        """A new sender at `domain` (or at a local firm) with an address nobody else in the corpus has."""
        r = self.rng
        form = form or self.draw("form", FORMS)
        first, last, female = self.name_pair(umlaut=form == "reversed" and r.random() < 0.6)
        partner = r.choice(MALE if female else FEMALE) if form == "couple" else ""
        firm = ""
        if domain == FIRM:
            domain_pattern, firm_pattern = self.draw("trade", TRADES)
            domain, firm = domain_pattern.format(s=slug(last)), firm_pattern.format(last=last)
        local = self._local_part(
            domain, f=slug(first), last=slug(last), partner=slug(partner), firm=firm, form=form
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
        street = f"{r.choice(STREETS)} {r.randint(1, 180)}"
        phone = (
            f"02305 {r.randint(20000, 999999)}" if r.random() < 0.7 else f"0171 {r.randint(1000000, 9999999)}"
        )
        return Person(
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
            plz=r.choice(PLZ),
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
