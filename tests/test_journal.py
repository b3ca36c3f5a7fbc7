"""The sent journal (mailbot.adapters.db.journal): lines in, the same entries out, torn lines ignored."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from mailbot.adapters.db import Database
from mailbot.adapters.db.journal import SentJournal

WHEN = datetime(2026, 10, 8, 18, 0, 1, 250000, tzinfo=UTC)


def test_entries_come_back_in_order_and_clear_forgets_them(tmp_path: Path) -> None:
    """What was appended is read back in order with its time; after clear() nothing is left."""
    journal = SentJournal(tmp_path / "db.sent")
    assert journal.entries() == []  # no file yet
    journal.append(7, WHEN)
    journal.append(3, WHEN.replace(second=2))
    assert SentJournal(journal.path).entries() == [(7, WHEN), (3, WHEN.replace(second=2))]
    journal.clear()
    assert journal.entries() == []
    journal.append(9, WHEN)  # appending goes on after a clear
    assert journal.entries() == [(9, WHEN)]
    journal.close()


def test_a_torn_line_is_ignored_and_the_rest_kept(tmp_path: Path) -> None:
    """A line cut short (or garbage) is skipped; whole lines around it still count."""
    path = tmp_path / "db.sent"
    path.write_text(f"1 {WHEN.isoformat()}\nx y\n2 {WHEN.isoformat()}\n3 2026-10-")
    assert SentJournal(path).entries() == [(1, WHEN), (2, WHEN)]


def test_only_a_sqlite_file_database_has_a_journal(tmp_path: Path) -> None:
    """The journal sits next to an SQLite file; in-memory SQLite and PostgreSQL have none."""
    journal = Database(f"sqlite:///{tmp_path / 'm.db'}").sent_journal()
    assert journal is not None
    assert journal.path == tmp_path / "m.db.sent"
    assert Database("sqlite://").sent_journal() is None
    assert Database("postgresql+psycopg://u@127.0.0.1:1/x").sent_journal() is None
