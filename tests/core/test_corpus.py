"""The demo and test corpus: exact counts, distinct senders, arrival order, clean 7-bit MIME, the keyword."""

from __future__ import annotations

import email
import email.policy
import email.utils
import html
import itertools
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest

from mailbot.demo.corpus import KINDS, CorpusMail, build_corpus, keyword_variants, negative_variants

KEYWORD = "Digitalisierung 08.10."
START = datetime(2020, 9, 21, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def corpus() -> list[CorpusMail]:
    """The demo inbox: the defaults."""
    return build_corpus()


@pytest.fixture(scope="module")
def scenario() -> list[CorpusMail]:
    """The integration scenario: 80 registrations, 3 repeats, 4 unrelated, 1 out-of-office."""
    return build_corpus(registrations=80, repeats=3, unrelated=4, auto_replies=1)


def reference(keyword: str) -> re.Pattern[str]:
    """The promised tolerance as a regex: case, spaces, quotes, leading zeros, trailing dot, a year."""
    found = re.fullmatch(r"\s*(.*?\S)\s+(\d{1,2})\.(\d{1,2})\.?\s*", keyword)
    assert found
    words = r"\s+".join(re.escape(w) for w in found[1].split())
    day, month = int(found[2]), int(found[3])
    return re.compile(rf"(?<!\w){words}\s+0?{day}\.0?{month}(?:\.(?:\d{{4}})?)?(?!\d)", re.IGNORECASE)


def parse(mail: CorpusMail) -> EmailMessage:
    """The raw message read with the modern policy."""
    msg = email.message_from_bytes(mail.raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def body_text(msg: EmailMessage) -> str:
    """The text a reader sees first: text/plain, else text/html with tags removed."""
    part = msg.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    text = str(part.get_content())
    if part.get_content_type() == "text/html":
        text = re.sub(r"(?is)<(head|style)\b.*?</\1>", "", text)
        text = re.sub(r"(?i)<br\s*/?>|</?(p|div)\b[^>]*>", "\n", text)
        text = html.unescape(re.sub(r"<[^>]+>", "", text))
    return text


def own_lines(text: str, count: int = 10) -> list[str]:
    """The first non-empty lines the sender wrote, before any quoted or forwarded text."""
    lines: list[str] = []
    for line in text.splitlines():
        if line.startswith((">", "-----")) or re.match(r"Am .* schrieb .*:$", line):
            break
        if line.strip():
            lines.append(line)
    return lines[:count]


def names_keyword(mail: CorpusMail, keyword: str = KEYWORD) -> bool:
    """The keyword (in any tolerated spelling) is in the decoded Subject or the first 10 own body lines."""
    msg = parse(mail)
    pattern = reference(keyword)
    return bool(pattern.search(str(msg["Subject"] or ""))) or any(
        pattern.search(line) for line in own_lines(body_text(msg))
    )


@pytest.mark.parametrize(
    ("registrations", "repeats", "unrelated", "auto_replies"),
    [(90, 3, 5, 2), (80, 3, 4, 1), (0, 0, 0, 0), (5, 0, 0, 0), (6, 1, 3, 2), (12, 4, 10, 5)],
)
def test_counts_per_kind_are_exact(
    registrations: int, repeats: int, unrelated: int, auto_replies: int
) -> None:
    """Each kind appears exactly as often as asked for, and nothing else does."""
    mails = build_corpus(
        registrations=registrations, repeats=repeats, unrelated=unrelated, auto_replies=auto_replies
    )
    counts = Counter(m.kind for m in mails)
    assert set(counts) <= set(KINDS)
    want = {
        "registration": registrations,
        "repeat": repeats,
        "unrelated": unrelated,
        "auto-reply": auto_replies,
    }
    assert {kind: counts[kind] for kind in KINDS} == want


def test_registration_senders_are_distinct_and_nobody_else_is_one(scenario: list[CorpusMail]) -> None:
    """80 registrations come from 80 addresses (case-insensitively); other mail comes from others."""
    senders = [m.sender.casefold() for m in scenario if m.kind == "registration"]
    assert len(set(senders)) == len(senders) == 80
    others = {m.sender.casefold() for m in scenario if m.kind in ("unrelated", "auto-reply")}
    assert not others & set(senders)


def test_internaldates_are_aware_and_strictly_increasing(corpus: list[CorpusMail]) -> None:
    """Arrival starts at `start` and grows by 5 s to 20 min per mail, always timezone-aware."""
    assert corpus[0].internaldate == START
    for before, after in itertools.pairwise(corpus):
        assert after.internaldate.tzinfo is not None
        assert timedelta(seconds=5) <= after.internaldate - before.internaldate <= timedelta(minutes=20)


def test_some_date_headers_lie_about_arrival(corpus: list[CorpusMail]) -> None:
    """Some Date headers are days off, so only INTERNALDATE gives the arrival order."""
    dates = [email.utils.parsedate_to_datetime(str(parse(m)["Date"])) for m in corpus]
    offsets = [date - m.internaldate for date, m in zip(dates, corpus, strict=True)]
    assert any(offset < -timedelta(days=1) for offset in offsets)
    assert any(offset > timedelta(minutes=10) for offset in offsets)
    assert dates != sorted(dates)


@pytest.mark.parametrize("seed", [8, 1, 2020])
def test_every_message_parses_without_defects(seed: int) -> None:
    """The strict modern parser finds no defect in any part or header of any mail."""
    for mail in build_corpus(seed=seed):
        msg = parse(mail)
        for part in msg.walk():
            assert not part.defects, (mail.sender, part.get_content_type(), part.defects)
            for name, value in part.items():
                assert not getattr(value, "defects", ()), (mail.sender, name, value)


def test_wire_format_is_seven_bit_crlf_and_small(corpus: list[CorpusMail]) -> None:
    """Every mail is pure 7-bit ASCII with CRLF line ends, lines within RFC 5322's 998, under 4 KB."""
    for mail in corpus:
        raw = mail.raw
        assert all(byte < 128 for byte in raw), mail.sender
        assert raw.endswith(b"\r\n")
        assert b"\r\n\r\n" in raw
        assert raw.count(b"\n") == raw.count(b"\r\n") == raw.count(b"\r")
        assert max(len(line) for line in raw.split(b"\r\n")) <= 998
        assert len(raw) < 4096, (mail.sender, len(raw))


def test_from_header_gives_sender_and_name(corpus: list[CorpusMail]) -> None:
    """The From header decodes to the corpus' sender and display name (RFC 2047 names included)."""
    for mail in corpus:
        address = parse(mail)["From"].addresses[0]
        assert (address.addr_spec, address.display_name) == (mail.sender, mail.name)


def test_message_ids_are_unique_unfolded_and_on_the_sender_domain(corpus: list[CorpusMail]) -> None:
    """One Message-ID line per mail, distinct across the corpus, on the sender's domain."""
    ids = []
    for mail in corpus:
        lines = [
            line
            for line in mail.raw.split(b"\r\n\r\n")[0].split(b"\r\n")
            if line.lower().startswith(b"message-id:")
        ]
        assert len(lines) == 1
        ident = lines[0].split(b":", 1)[1].strip().decode()
        assert re.fullmatch(r"<[^<>@\s]+@[^<>@\s]+>", ident)
        assert ident.casefold().endswith("@" + mail.sender.rpartition("@")[2].casefold() + ">")
        ids.append(ident)
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize("seed", [8, 3, 77])
def test_every_registration_names_the_keyword(seed: int) -> None:
    """Each registration names the keyword in its subject or in the first 10 lines the sender wrote."""
    for mail in build_corpus(seed=seed):
        if mail.kind in ("registration", "repeat"):
            assert names_keyword(mail), mail.raw.decode()


def test_repeats_follow_their_first_mail_some_with_other_capitalisation(corpus: list[CorpusMail]) -> None:
    """A repeat comes later from an already registered address, at times spelt with other capitals."""
    first_seen: dict[str, int] = {}
    repeats = []
    for position, mail in enumerate(corpus):
        if mail.kind == "registration":
            first_seen[mail.sender.casefold()] = position
        elif mail.kind == "repeat":
            repeats.append(mail)
            assert first_seen[mail.sender.casefold()] < position
    originals = {corpus[first_seen[m.sender.casefold()]].sender for m in repeats}
    assert any(m.sender not in originals for m in repeats)
    assert len({m.sender.casefold() for m in repeats}) == len(repeats)


@pytest.mark.parametrize("seed", [8, 5])
def test_unrelated_mail_never_names_the_keyword(seed: int) -> None:
    """Office mail has no keyword anywhere, though some name the topic or the date alone, or another date."""
    mails = [m for m in build_corpus(unrelated=8, seed=seed) if m.kind == "unrelated"]
    pattern = reference(KEYWORD)
    texts = []
    for mail in mails:
        msg = parse(mail)
        text = f"{msg['Subject']}\n{body_text(msg)}"
        assert not pattern.search(text), text
        texts.append(text)
    assert any("Digitalisierung 09.10." in t for t in texts)
    assert any("Digitalisierung" in t and "08.10." in t for t in texts)
    newsletter = [parse(m) for m in mails if parse(m)["List-Id"]]
    assert newsletter
    assert newsletter[0]["Precedence"] == "bulk"


def test_auto_replies_are_robots_and_name_the_keyword(corpus: list[CorpusMail]) -> None:
    """The out-of-office names the keyword in its subject (Exchange headers); the bounce is RFC 3464."""
    robots = [m for m in corpus if m.kind == "auto-reply"]
    ooo, bounce = (parse(m) for m in robots)
    assert str(ooo["Subject"]) == f"Automatische Antwort: {KEYWORD}"
    assert (ooo["Auto-Submitted"], ooo["X-Auto-Response-Suppress"]) == ("auto-replied", "All")
    assert bounce["Return-Path"] == "<>"
    assert bounce.get_content_type() == "multipart/report"
    assert bounce.get_param("report-type") == "delivery-status"
    assert [p.get_content_type() for p in bounce.iter_parts()] == [
        "text/plain",
        "message/delivery-status",
        "message/rfc822",
    ]
    returned = list(bounce.iter_parts())[2].get_content()
    assert reference(KEYWORD).search(str(returned["Subject"]))


def test_same_seed_same_bytes_other_seed_other_mails() -> None:
    """The corpus is a function of its arguments: identical bytes for a seed, different mail for another."""
    assert build_corpus() == build_corpus()
    assert [m.raw for m in build_corpus(seed=9)] != [m.raw for m in build_corpus()]


def test_styles_are_varied(scenario: list[CorpusMail]) -> None:
    """The 80 registrations cover the programs, encodings, charsets and habits of real senders."""
    registrations = [m for m in scenario if m.kind == "registration"]
    msgs = [parse(m) for m in registrations]
    raws = b"\n".join(m.raw for m in registrations)
    types = Counter(m.get_content_type() for m in msgs)
    assert {"text/plain", "text/html", "multipart/alternative"} <= set(types)
    for needle in (
        b"quoted-printable",
        b"base64",
        b'charset="iso-8859-1"',
        b'charset="windows-1252"',
        b"iso-8859-15",
        b"=?utf-8?Q?",
        b"=?UTF-8?B?",
        b"=?iso-8859-1?Q?",
        b"&nbsp;",
        b"<br>",
        b"<p>",
        b"format=flowed",
        b"Gesendet von meinem iPhone",
        b"\r\n--=20\r\n",
        b"In-Reply-To:",
    ):
        assert needle in raws, needle
    agents = {str(m["X-Mailer"] or m["User-Agent"] or "") for m in msgs}
    assert {"Microsoft Outlook 16.0", "GMX FreeMail", "Apple Mail (2.3608.120.23.2.1)"} <= agents
    assert any(a.endswith("Thunderbird/78.2.2") for a in agents)
    assert any(a.startswith("iPhone Mail") for a in agents)
    subjects = [str(m["Subject"] or "") for m in msgs]
    for prefix in ("Re: ", "AW: ", "WG: ", "Fwd: "):
        assert any(s.startswith(prefix) for s in subjects), prefix
    assert any(m["Subject"] is None for m in msgs)
    assert sum(not reference(KEYWORD).search(s) for s in subjects) >= 10  # keyword only in the body
    names = [m.name for m in registrations]
    assert sum(not n for n in names) >= 5
    assert any(n.startswith("Dr. ") for n in names)
    assert any(" und " in n for n in names)
    assert any("," in n and not n.isascii() for n in names)
    assert any(not n.isascii() for n in names)
    assert len({m.sender.rpartition("@")[2].casefold() for m in registrations}) >= 10


def test_keyword_variants_of_the_default() -> None:
    """The variants of "Digitalisierung 08.10." are the spellings the desk must accept, and all match."""
    variants = keyword_variants(KEYWORD)
    assert variants[0] == KEYWORD
    for expected in (
        "digitalisierung 08.10.",
        "DIGITALISIERUNG 08.10.",
        "Digitalisierung 08.10",
        "Digitalisierung 8.10.",
        "Digitalisierung 8.10",
        "Digitalisierung 08.10.2020",
        "digitalisierung 8.10.2020",
        "„Digitalisierung 08.10.“",
        '"Digitalisierung 08.10."',
        "Digitalisierung   08.10.",
    ):
        assert expected in variants
    assert len(set(variants)) == len(variants)
    assert all(reference(KEYWORD).search(v) for v in variants)
    assert "digitalisierung 8.10.2021" in keyword_variants(KEYWORD, year=2021)


def test_keyword_variants_derive_from_another_keyword() -> None:
    """Variants come from the given keyword's words and date, nothing is fixed to "Digitalisierung"."""
    keyword = "Bürgerbudget 12.3."
    variants = keyword_variants(keyword)
    for expected in (
        "bürgerbudget 12.3.",
        "BÜRGERBUDGET 12.3.",
        "Bürgerbudget 12.3",
        "Bürgerbudget 12.03.",
        "Bürgerbudget 12.3.2020",
        "„Bürgerbudget 12.3.“",
    ):
        assert expected in variants
    assert not any("igitalisierung" in v or "08" in v for v in variants)
    assert all(reference(keyword).search(v) for v in variants)
    assert not any(reference(keyword).search(v) for v in negative_variants(keyword))
    assert _upper_keeps_sharp_s()
    mails = build_corpus(registrations=30, repeats=2, unrelated=5, auto_replies=2, keyword=keyword, seed=4)
    for mail in mails:
        if mail.kind != "auto-reply":  # the bounce quotes it only in the returned message
            assert names_keyword(mail, keyword) == (mail.kind in ("registration", "repeat")), mail.raw
    robots = [str(parse(m)["Subject"]) for m in mails if m.kind == "auto-reply"]
    assert f"Automatische Antwort: {keyword}" in robots


def _upper_keeps_sharp_s() -> bool:
    """Upper case keeps "ß" (as people type it), so a case-insensitive match still finds it."""
    return "GROßE PAUSE 1.2." in keyword_variants("Große Pause 1.2.")


def test_negative_variants_are_near_misses_that_never_match() -> None:
    """Another day, another month, a day containing the date, another word, word or date alone: no match."""
    negatives = negative_variants(KEYWORD)
    assert negatives[:3] == ["Digitalisierung 09.10.", "Digitalisierung 08.11.", "Digitalisierung 18.10."]
    assert {"Anmeldung 08.10.", "Digitalisierung", "08.10."} <= set(negatives)
    assert not any(reference(KEYWORD).search(n) for n in negatives)


def test_bad_arguments_are_refused() -> None:
    """Negative counts, more repeats than registrations, a naive start, an empty keyword: ValueError."""
    with pytest.raises(ValueError, match="negative"):
        build_corpus(unrelated=-1)
    with pytest.raises(ValueError, match="repeats"):
        build_corpus(registrations=2, repeats=3)
    with pytest.raises(ValueError, match="aware"):
        build_corpus(start=datetime(2020, 9, 21, 8, 0))  # noqa: DTZ001 (the point of the test)
    with pytest.raises(ValueError, match="empty"):
        keyword_variants("  ")
