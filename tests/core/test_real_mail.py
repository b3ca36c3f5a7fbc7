"""Real-looking mails (tests/data/mail/*.eml) are classified as the table expected.csv says."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mailbot.core import chain
from mailbot.core.model import Event, RuleContext
from mailbot.core.parse import parse_message

MAIL = Path(__file__).resolve().parents[1] / "data" / "mail"
TABLE = MAIL / "expected.csv"

CTX = RuleContext(
    own_addresses=frozenset({"digitalisierung@castrop-rauxel.de"}), own_domain="castrop-rauxel.de"
)
EVENTS = [
    Event(
        "digitalisierung-2020",
        "Digitalisierung",
        "Digitalisierung 08.10.",
        30,
        datetime(2020, 10, 8, 16, tzinfo=UTC),
    ),
    Event("buergerbudget", "Bürgerbudget", "Bürgerbudget 12.3.", 50, datetime(2021, 3, 12, 17, tzinfo=UTC)),
]
KEYWORDS = chain.Keywords(EVENTS)
RULE_NAMES = [rule.name for rule in chain.MACHINE_RULES]
# File name prefixes of the out-of-office replies and bounces in the folder.
AUTO_REPLY_PREFIXES = ("ooo-", "bounce-")


@dataclass(frozen=True)
class Expected:
    """One row of expected.csv: what the chain must make of one file."""

    file: str
    machine_rule: str  # "" for a person's mail, else the first robot rule that hits
    event_ids: frozenset[str]
    intent: str  # "" when the mail is not the desk's business
    note: str
    known_misread: str  # "" unless the row documents a reported misread (the test is then a strict xfail)


def read_table() -> list[Expected]:
    """The rows of expected.csv, in file order."""
    with TABLE.open(encoding="utf-8", newline="") as handle:
        return [
            Expected(
                file=row["file"],
                machine_rule=row["machine_rule"],
                event_ids=frozenset(row["event_ids"].split()),
                intent=row["intent"],
                note=row["note"],
                known_misread=row["known_misread"],
            )
            for row in csv.DictReader(handle)
        ]


ROWS = read_table()


def _param(row: Expected) -> object:
    marks = [pytest.mark.xfail(reason=row.known_misread, strict=True)] if row.known_misread else []
    return pytest.param(row, id=row.file, marks=marks)


def test_table_and_folder_list_the_same_files() -> None:
    """Every .eml in the folder has exactly one row in the table and vice versa, and there are at least 60."""
    files = [row.file for row in ROWS]
    assert len(files) == len(set(files)), "a file is listed twice"
    assert set(files) == {path.name for path in MAIL.glob("*.eml")}
    assert len(files) >= 60


def test_corpus_has_ten_auto_reply_and_bounce_formats() -> None:
    """At least ten out-of-office and bounce formats are in the corpus, and every one is a machine's."""
    auto = [row for row in ROWS if row.file.startswith(AUTO_REPLY_PREFIXES)]
    assert len(auto) >= 10
    assert all(row.machine_rule for row in auto)


def test_table_names_only_known_rules_and_covers_every_rule() -> None:
    """The table's rule names are the chain's, and each robot rule is the first hit for some real mail."""
    named = {row.machine_rule for row in ROWS if row.machine_rule}
    assert named == set(RULE_NAMES)


def test_table_rows_are_consistent() -> None:
    """A machine's mail has no intent, intents are the known ones, and every row explains itself in a note."""
    for row in ROWS:
        assert row.intent in {"", "register", "cancel", "status"}, row.file
        assert not (row.machine_rule and row.intent), row.file
        assert row.event_ids <= {event.id for event in EVENTS}, row.file
        assert row.note.strip(), row.file


@pytest.mark.parametrize("row", [_param(row) for row in ROWS])
def test_real_mail_is_classified_as_expected(row: Expected) -> None:
    """The file parses, the first robot rule, the events named and the intent are those of its table row."""
    msg = parse_message((MAIL / row.file).read_bytes())
    verdict = chain.classify(msg, CTX, KEYWORDS)
    assert (verdict.machine.rule if verdict.machine else "") == row.machine_rule
    assert set(verdict.event_ids) == row.event_ids
    assert (verdict.intent.value if verdict.intent else "") == row.intent
