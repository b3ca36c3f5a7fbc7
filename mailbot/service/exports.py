"""The export: registrations as the CSV or xlsx file staff open in Excel (`mailbot export`, the console)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from mailbot.config import Config
from mailbot.ports.exports import ExportFiles
from mailbot.ports.store import Store


def export_file(
    db: Store,
    files: ExportFiles,
    config: Config,
    event_id: str | None,
    fmt: str,
    now: datetime,
    delimiter: str = ";",
) -> tuple[bytes, int]:
    """The file's bytes and how many registrations it holds: one event's (or all, in arrival order per
    event), as CSV (UTF-8 with BOM) or, with `fmt` "xlsx", a workbook with a sheet per event made at `now`."""
    with db.reading() as tx:
        rows = tx.export_rows(event_id)
    tz = ZoneInfo(config.bot.timezone)
    if fmt == "xlsx":
        events = [config.event(event_id)] if event_id is not None else list(config.events)
        return files.xlsx(rows, events, tz, now.astimezone(tz)), len(rows)
    return files.csv(rows, tz, delimiter), len(rows)
