"""The export files' port implemented: CSV (csv_export.py) and xlsx (xlsx_export.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo

from mailbot.adapters.exports.csv_export import encode_for_excel, render_csv
from mailbot.adapters.exports.xlsx_export import render_xlsx
from mailbot.core.model import Event, ExportRow


class ExcelFiles:
    """The files staff open in Excel: CSV with BOM, or a workbook."""

    def csv(self, rows: Sequence[ExportRow], tz: tzinfo, delimiter: str) -> bytes:
        """The rows as CSV, UTF-8 with BOM."""
        return encode_for_excel(render_csv(rows, tz, delimiter))

    def xlsx(self, rows: Sequence[ExportRow], events: Sequence[Event], tz: tzinfo, made: datetime) -> bytes:
        """The rows as a workbook with a sheet per event, made at `made`."""
        return render_xlsx(rows, events, tz, made)
