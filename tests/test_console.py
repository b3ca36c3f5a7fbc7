"""Terminal output: the status table (rich, rendered to text), a progress bar only a terminal sees."""

from __future__ import annotations

import ast
import io
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import mailbot
from mailbot.cli.render import progress, render_table
from tests.integration.test_desk import invoke
from tests.servers import Dovecot, ImapAccount

T0 = datetime(2020, 9, 21, 8, 0, tzinfo=UTC)
PACKAGE = Path(mailbot.__file__).parent


class FakeTerminal(io.StringIO):
    """A text stream that says it is a terminal, so rich draws to it."""

    def isatty(self) -> bool:
        """Yes, a terminal."""
        return True


def registration(n: int) -> bytes:
    """A plain registration mail from person n."""
    return (
        f"From: Person {n} <person{n}@example.org>\r\nTo: digitalisierung@castrop-rauxel.de\r\n"
        f"Subject: Digitalisierung 08.10.\r\nMessage-ID: <reg{n}@example.org>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\nHiermit melde ich mich an.\r\n"
    ).encode()


def row_of(table: str, first_cell: str) -> list[str]:
    """The cells of the table line that starts with first_cell (columns are 2+ spaces apart)."""
    line = next(line for line in table.splitlines() if line.startswith(first_cell + " "))
    return re.split(r" {2,}", line.strip())


def test_status_table_shows_every_event_with_its_numbers(
    dovecot_server: Dovecot, imap_account: ImapAccount, config_file: Path
) -> None:
    """`status` has one table row per configured event: title, local start, seats, waitlist, replies."""
    text = config_file.read_text().replace("capacity = 75", "capacity = 2")
    text += (
        '\n[[events]]\nid = "ki-workshop"\ntitle = "KI [im] Rathaus"\nkeyword = "KI 09.10."\n'
        "capacity = 20\nstarts_at = 2020-10-09T16:30:00Z\n"
    )
    config_file.write_text(text)
    dovecot_server.append_many(
        imap_account.user, [(registration(i), T0 + timedelta(minutes=i)) for i in range(1, 4)]
    )
    assert invoke(config_file, "run", "--once")[0] == 0

    code, out, err = invoke(config_file, "status")
    assert code == 0, err
    assert "\x1b[" not in out  # not a terminal: no colour codes
    header = row_of(out, "event")
    assert header == ["event", "seats", "confirmed", "free", "waiting", "pending", "failed", "bounced"]
    assert row_of(out, "digitalisierung-2020") == [
        "digitalisierung-2020",
        *["2", "2", "0", "1", "0", "0", "0"],
    ]
    lines = out.splitlines()
    # The second line of each event: its title and local start (UTC+2), the title as written (no rich markup).
    assert lines[lines.index(next(x for x in lines if x.startswith("digitalisierung-2020 "))) + 1] == (
        "  Digitalisierung in Castrop-Rauxel, 2020-10-08 18:00"
    )
    assert row_of(out, "ki-workshop") == ["ki-workshop", *["20", "0", "20", "0", "0", "0", "0"]]
    assert "  KI [im] Rathaus, 2020-10-09 18:30" in lines
    assert "events (times in Europe/Berlin)" in out
    assert "last successful poll: 20" in out
    assert "messages in the ledger: registered 3" in out


def test_status_fits_100_columns(
    dovecot_server: Dovecot, imap_account: ImapAccount, config_file: Path
) -> None:
    """`status` with long titles, full events and every warning: no line wider than 100 columns."""
    text = config_file.read_text().replace("capacity = 75", "capacity = 2")
    title = (
        "Bürgerdialog zur Digitalisierung der Stadtverwaltung Castrop-Rauxel mit Oberbürgermeister und Gästen"
    )
    text = text.replace('title = "Digitalisierung in Castrop-Rauxel"', f'title = "{title}"')
    for n in range(3):
        text += (
            f'\n[[events]]\nid = "workshop-{n}-2020"\ntitle = "Workshop {n}: {title}"\n'
            f'keyword = "Workshop{n} 09.10."\ncapacity = 20000\nstarts_at = 2020-10-09T16:30:00Z\n'
        )
    config_file.write_text(text)
    dovecot_server.append_many(
        imap_account.user, [(registration(i), T0 + timedelta(minutes=i)) for i in range(1, 4)]
    )
    assert invoke(config_file, "run", "--once")[0] == 0
    lowered = config_file.read_text().replace("capacity = 2\n", "capacity = 1\n", 1)
    config_file.write_text(lowered)  # below the confirmed count: a long warning line

    code, out, err = invoke(config_file, "status")
    assert code == 0, err
    widths = [len(line) for line in out.splitlines()]
    assert max(widths) <= 100, out
    assert "warning: digitalisierung-2020 has 2 confirmed but capacity 1" in out
    assert f"  {title}," in out.replace("\n    ", " ")  # the title wraps onto an indented line, whole
    assert row_of(out, "workshop-2-2020") == ["workshop-2-2020", *["20000", "0", "20000", "0", "0", "0", "0"]]


def test_status_table_fits_an_80_column_terminal(config_file: Path) -> None:
    """In an 80-column terminal the status table needs no wrapping (event ids up to 20 characters)."""
    from mailbot.bootstrap import open_database  # noqa: PLC0415
    from mailbot.config import load_config  # noqa: PLC0415
    from mailbot.service.reports import status_text  # noqa: PLC0415

    config = load_config(config_file, {})
    text = status_text(open_database(config), config, render_table, color=False, width=80)
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "…" not in text  # no header was cut


def test_render_table_aligns_numbers_right_and_keeps_text_literal() -> None:
    """Int columns are right-aligned, text left; markup-like text and empty tables render as written."""
    table = render_table("t [b]x[/b]", ["id", "name", "count"], [["a", "[red]x[/red]", 5], ["bb", "y", 120]])
    lines = table.splitlines()
    assert lines[0] == "t [b]x[/b]"
    assert lines[1] == "id  name          count"
    assert set(lines[2]) == {"-"}
    assert lines[3] == "a   [red]x[/red]      5"
    assert lines[4] == "bb  y               120"
    assert render_table("empty", ["id", "n"], []).splitlines()[1] == "id  n"


def test_render_table_colours_only_when_asked() -> None:
    """color=True makes the header bold with ANSI codes; color=False has none."""
    assert "\x1b[1m" in render_table("t", ["id"], [["a"]], color=True)
    assert "\x1b[" not in render_table("t", ["id"], [["a"]], color=False)


def test_progress_prints_nothing_when_stderr_is_not_a_terminal() -> None:
    """Not a terminal: the items pass through unchanged and not one character is written."""
    stream = io.StringIO()
    assert list(progress(range(5), 5, "work", delay=0, file=stream)) == [0, 1, 2, 3, 4]
    with progress(total=2, description="work", delay=0, file=stream) as tick:
        tick()
        tick()
    assert tick.done == 2
    assert stream.getvalue() == ""


def test_progress_shows_no_bar_for_short_work_on_a_terminal() -> None:
    """On a terminal, work that ends before the delay shows nothing at all."""
    stream = FakeTerminal()
    assert list(progress(range(3), 3, "quick", file=stream)) == [0, 1, 2]
    assert stream.getvalue() == ""


def test_progress_draws_a_transient_bar_for_long_work_on_a_terminal() -> None:
    """Work longer than the delay draws the bar with its description and count, erased at the end."""
    stream = FakeTerminal()
    items = []
    for item in progress(range(4), 4, "sending access data", delay=0.05, file=stream):
        time.sleep(0.06)
        items.append(item)
    assert items == [0, 1, 2, 3]
    drawn = stream.getvalue()
    assert "sending access data" in drawn
    assert "/4" in drawn
    assert drawn.endswith("\x1b[2K")  # transient: the last thing written erases the bar's line


@pytest.mark.timeout(30)
def test_progress_callback_form_shows_a_slow_first_item_and_stops_on_error() -> None:
    """The `with ... as tick` form starts the bar by timer (one slow item suffices), ends it on an error."""
    stream = FakeTerminal()

    def slow_failing_work() -> None:
        with progress(total=None, description="importing", delay=0.05, file=stream):
            time.sleep(0.3)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        slow_failing_work()
    assert "importing" in stream.getvalue()
    written = len(stream.getvalue())
    time.sleep(0.2)
    assert len(stream.getvalue()) == written  # stopped: nothing redraws after the block


@pytest.mark.parametrize(
    ("library", "module"), [("rich", "cli/render.py"), ("openpyxl", "adapters/exports/xlsx_export.py")]
)
def test_one_adapter_module_per_library(library: str, module: str) -> None:
    """Only cli/render.py imports rich, only exports/xlsx_export.py imports openpyxl (house style 5)."""
    importers = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            else:
                continue
            if any(name.split(".")[0] == library for name in names):
                importers.add(path.relative_to(PACKAGE).as_posix())
    assert importers == {module}
