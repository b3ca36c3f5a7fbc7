"""The keyword and how people write it: dated variants, and near misses that are not it."""

from __future__ import annotations

import re
from dataclasses import dataclass

_KEYWORD = re.compile(r"\s*(?P<words>.*?\S)\s+(?P<day>\d{1,2})\.(?P<month>\d{1,2})(?P<dot>\.?)\s*")


@dataclass(frozen=True)
class Keyword:
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


def parse_keyword(keyword: str) -> Keyword:
    match = _KEYWORD.fullmatch(keyword)
    if match is None:
        words = " ".join(keyword.split())
        if not words:
            raise ValueError("the keyword is empty")
        return Keyword(words)
    day, month = match["day"], match["month"]
    if not (1 <= int(day) <= 31 and 1 <= int(month) <= 12):
        raise ValueError(f"the keyword's date is not a day.month.: {keyword!r}")
    words = " ".join(match["words"].split())
    return Keyword(words, int(day), int(month), len(day) == 2, len(month) == 2, bool(match["dot"]))


def _upper(text: str) -> str:
    """Upper case as Germans type it: "ß" stays (str.upper() would make "SS", which no longer matches)."""
    return "".join(ch if ch == "ß" else ch.upper() for ch in text)


def keyword_variants(keyword: str, *, year: int = 2020) -> list[str]:
    """The spellings of `keyword` people use that must still match, the exact one first.

    Derived from the keyword's words and its trailing dd.mm. date: lower and upper case, no trailing dot,
    no leading zeros (or added ones), a year after the date, „German“ or "straight" quotes, extra spaces.
    Re:/AW:/WG:/Fwd: prefixes are added at the subject level by the corpus.
    """
    k = parse_keyword(keyword)
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
    k = parse_keyword(keyword)
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
