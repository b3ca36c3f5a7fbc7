"""Excel workbook export with openpyxl: one sheet per event, the CSV's columns, real dates, text never run."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime, tzinfo

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from mailbot.adapters.exports.csv_export import COLUMNS, Value, export_values
from mailbot.core.model import Event, ExportRow

INFO_SHEET = "info"
_MAX_SHEET_NAME = 31  # Excel refuses longer sheet names
_RESERVED = {INFO_SHEET, "history"}  # "History" is reserved by Excel itself; names compare case-insensitively
_DATE_FORMAT = "yyyy-mm-dd hh:mm:ss"
_MAX_WIDTH = 60  # characters; longer cells are cut off on screen, not in the file


def render_xlsx(
    rows: Sequence[ExportRow], events: Sequence[Event], tz: tzinfo, exported_at: datetime
) -> bytes:
    """The workbook as bytes: a sheet per event (registrations in arrival order), then the sheet "info".

    ``events`` get a sheet each (in that order), even one without registrations; registrations of an event
    not among them (no longer configured) get a sheet of their own after them. Times are local times in
    ``tz`` (Excel has no time zones); the "info" sheet names the zone.
    """
    by_event: dict[str, list[ExportRow]] = {event.id: [] for event in events}
    for row in rows:
        by_event.setdefault(row.event_id, []).append(row)
    workbook = Workbook()
    first = workbook.active
    assert first is not None  # a new workbook always has one sheet
    workbook.remove(first)
    for event_id, name in zip(by_event, _sheet_names(list(by_event)), strict=True):
        _registrations_sheet(workbook.create_sheet(name), by_event[event_id], tz)
    _info_sheet(workbook.create_sheet(INFO_SHEET), events, by_event, tz, exported_at)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _registrations_sheet(sheet: Worksheet, rows: Sequence[ExportRow], tz: tzinfo) -> None:
    sheet.append(list(COLUMNS))
    for row in rows:
        sheet.append([_cell_value(value, tz) for value in export_values(row)])
    _style(sheet)


def _info_sheet(
    sheet: Worksheet,
    events: Sequence[Event],
    by_event: dict[str, list[ExportRow]],
    tz: tzinfo,
    exported_at: datetime,
) -> None:
    sheet.append(["event_id", "title", "capacity", "starts_at", "registrations"])
    titles = {event.id: event for event in events}
    for event_id, rows in by_event.items():
        event = titles.get(event_id)
        if event is None:
            sheet.append([_cell_value(event_id, tz), "(no longer configured)", None, None, len(rows)])
        else:
            sheet.append(
                [
                    _cell_value(event.id, tz),
                    _cell_value(event.title, tz),
                    event.capacity,
                    _cell_value(event.starts_at, tz),
                    len(rows),
                ]
            )
    sheet.append([])
    sheet.append(["exported_at", _cell_value(exported_at.replace(microsecond=0), tz)])
    sheet.append(["timezone", str(tz), "all times in this workbook are local times in this zone"])
    _style(sheet)


def _cell_value(value: Value, tz: tzinfo) -> str | int | datetime | None:
    """A value as openpyxl should store it: text as it is (`_style` makes it text), times local, naive."""
    if isinstance(value, datetime):
        # openpyxl refuses aware datetimes; Excel has no zones: local wall-clock time, the zone is in "info".
        return value.astimezone(tz).replace(tzinfo=None)
    if isinstance(value, str):
        # Control characters are illegal in the XML; a mail header may still carry one. No "'" guard as in the
        # CSV: `_style` stores every text as an inline string, which Excel never evaluates, so the name shows
        # as the person wrote it.
        return ILLEGAL_CHARACTERS_RE.sub("\ufffd", value)
    return value


def _style(sheet: Worksheet) -> None:
    """Bold, frozen header row; dates shown as dates; text kept text; columns as wide as their content."""
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    sheet.freeze_panes = "A2"
    widths: dict[int, int] = {}
    for row in sheet.iter_rows():
        for column, cell in enumerate(row, start=1):
            if isinstance(cell.value, datetime):
                cell.number_format = _DATE_FORMAT
                shown = len(_DATE_FORMAT)
            elif isinstance(cell.value, str):
                # Never a formula (OWASP CSV injection, also in xlsx): openpyxl takes a str starting with "="
                # for one; type "s" is written as an inline string (t="inlineStr"), a text cell, never run.
                cell.data_type = "s"
                shown = max(len(line) for line in cell.value.splitlines() or [""])
            else:
                shown = len(str(cell.value)) if cell.value is not None else 0
            widths[column] = max(widths.get(column, 0), shown)
    for column, width in widths.items():
        sheet.column_dimensions[get_column_letter(column)].width = min(width, _MAX_WIDTH) + 2


def _sheet_names(event_ids: Sequence[str]) -> list[str]:
    """Sheet names from event ids: at most 31 characters, unique (case-insensitively), never "info"."""
    taken = set(_RESERVED)
    names = []
    for event_id in event_ids:
        name = event_id[:_MAX_SHEET_NAME]
        n = 1
        while name.lower() in taken:
            n += 1
            suffix = f"~{n}"
            name = event_id[: _MAX_SHEET_NAME - len(suffix)] + suffix
        taken.add(name.lower())
        names.append(name)
    return names
