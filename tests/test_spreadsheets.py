"""The exports opened in LibreOffice Calc (headless) as in Germany: dates are dates, names text."""

from __future__ import annotations

import csv
import io
import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook

from mailbot.adapters.exports.csv_export import CSV_COLUMNS, encode_for_excel, render_csv
from mailbot.adapters.exports.xlsx_export import render_xlsx
from tests.test_exports import BERLIN, T0, event, export_row

pytestmark = pytest.mark.slow

# LibreOffice's CSV import options: ';' (59), '"' (34), UTF-8 (76), from line 1, standard column types, and
# German (1031) as the language that recognises numbers and dates: what the import dialog offers in de-DE.
GERMAN_CSV_IMPORT = "CSV:59,34,76,1,,1031"
CSV_OUT = "csv:Text - txt - csv (StarCalc):59,34,76,1"


def convert(soffice: str, source: Path, target: str, *, infilter: str | None = None) -> Path:
    """Convert `source` with LibreOffice headless (its own profile in the test's directory); the new file."""
    profile = source.parent / "lo-profile"
    command = [soffice, f"-env:UserInstallation={profile.as_uri()}", "--headless", "--norestore"]
    if infilter is not None:
        command.append(f"--infilter={infilter}")
    command += ["--convert-to", target, "--outdir", str(source.parent / "out"), str(source)]
    env = {**os.environ, "HOME": str(source.parent)}  # the import language is in the filter options
    subprocess.run(command, check=True, capture_output=True, timeout=180, env=env)
    suffix = target.split(":", maxsplit=1)[0]
    converted = source.parent / "out" / f"{source.stem}.{suffix}"
    assert converted.exists(), f"LibreOffice wrote no {converted.name}"
    return converted


def test_german_libreoffice_reads_the_csv_local_times_as_dates(soffice: str, tmp_path: Path) -> None:
    """Imported with German settings, every `*_local` cell is a date-time (sortable, filterable) with the
    local wall-clock time; the ISO columns stay text for machines; a guarded name is no formula."""
    rows = [
        export_row("e", 1, "Anna Müller"),
        export_row(
            "e",
            2,
            '=HYPERLINK("http://evil.example/","Klick")',
            received_at=datetime(2026, 12, 6, 1, 16, 12, tzinfo=UTC),
            cancelled_at=datetime(2026, 12, 31, 23, 0, 0, tzinfo=UTC),
        ),
    ]
    source = tmp_path / "anmeldungen.csv"
    source.write_bytes(encode_for_excel(render_csv(rows, BERLIN)))
    sheet = load_workbook(convert(soffice, source, "xlsx", infilter=GERMAN_CSV_IMPORT)).active
    assert sheet is not None
    header, anna, evil = (list(row) for row in sheet.iter_rows())
    assert [cell.value for cell in header] == list(CSV_COLUMNS)
    column = {name: index for index, name in enumerate(CSV_COLUMNS)}

    def local(row: list[object], name: str) -> object:
        return row[column[name]].value  # type: ignore[attr-defined]

    assert local(anna, "received_at_local") == datetime(2020, 9, 21, 10, 1, 0)  # noqa: DTZ001 (a naive cell)
    assert local(anna, "replied_at_local") == datetime(2020, 9, 21, 10, 1, 5)  # noqa: DTZ001
    assert local(evil, "received_at_local") == datetime(2026, 12, 6, 2, 16, 12)  # noqa: DTZ001
    assert local(evil, "cancelled_at_local") == datetime(2027, 1, 1, 0, 0, 0)  # noqa: DTZ001
    assert local(anna, "cancelled_at_local") is None
    assert all(evil[column[n]].data_type == "d" for n in ("received_at_local", "cancelled_at_local"))
    assert local(evil, "received_at") == "2026-12-06T02:16:12+01:00"  # text, as written
    assert evil[column["name"]].data_type == "s"
    assert local(anna, "name") == "Anna Müller"


def test_libreoffice_shows_the_real_name_from_the_xlsx(soffice: str, tmp_path: Path) -> None:
    """A formula-like name in the workbook is shown as written (no apostrophe) and never evaluated."""
    name = '=HYPERLINK("http://evil.example/","Klick")'
    rows = [export_row("e", 1, name), export_row("e", 2, "Anna Müller")]
    source = tmp_path / "anmeldungen.xlsx"
    source.write_bytes(render_xlsx(rows, [event("e")], BERLIN, T0))
    shown = convert(soffice, source, CSV_OUT).read_text(encoding="utf-8")
    names = [row["name"] for row in csv.DictReader(io.StringIO(shown), delimiter=";")]
    assert names == [name, "Anna Müller"]
