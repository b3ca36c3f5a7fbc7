"""The export files assembled apart from bootstrap.py: openpyxl loads only where exports are made."""

from __future__ import annotations

from mailbot.adapters.exports.files import ExcelFiles
from mailbot.ports.exports import ExportFiles


def export_files() -> ExportFiles:
    """The CSV and xlsx renderers of `mailbot export` and the staff console."""
    return ExcelFiles()
