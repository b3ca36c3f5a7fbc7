"""The export: registrations as the CSV or xlsx file staff open in Excel (`mailbot export`, the console)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from mailbot.adapters.exports.csv_export import encode_for_excel, render_csv
from mailbot.adapters.exports.xlsx_export import render_xlsx
from mailbot.config import Config
from mailbot.ports.store import Store


def export_file(
    db: Store, config: Config, event_id: str | None, fmt: str, now: datetime, delimiter: str = ";"
) -> tuple[bytes, int]:
    """The file's bytes and how many registrations it holds: one event's (or all, in arrival order per
    event), as CSV (UTF-8 with BOM) or, with `fmt` "xlsx", a workbook with a sheet per event made at `now`."""
    with db.reading() as tx:
        rows = tx.export_rows(event_id)
    tz = ZoneInfo(config.bot.timezone)
    if fmt == "xlsx":
        events = [config.event(event_id)] if event_id is not None else list(config.events)
        return render_xlsx(rows, events, tz, now.astimezone(tz)), len(rows)
    return encode_for_excel(render_csv(rows, tz, delimiter)), len(rows)
