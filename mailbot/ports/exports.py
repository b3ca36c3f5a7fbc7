"""The export files' port: registrations as the CSV and xlsx files staff open in Excel."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo
from typing import Protocol

from mailbot.core.model import Event, ExportRow


class ExportFiles(Protocol):
    """Renders export rows to a file's bytes (adapters/exports implements it; bootstrap hands it over)."""

    def csv(self, rows: Sequence[ExportRow], tz: tzinfo, delimiter: str) -> bytes:
        """The rows as CSV, UTF-8 with BOM."""
        ...

    def xlsx(self, rows: Sequence[ExportRow], events: Sequence[Event], tz: tzinfo, made: datetime) -> bytes:
        """The rows as a workbook with a sheet per event, made at `made`."""
        ...
