"""CSV export for Excel: UTF-8 with BOM, ';' by default, formula injection escaped."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import datetime, tzinfo

from mailbot.adapters.db import ExportRow

COLUMNS = (
    "event_id",
    "position",
    "status",
    "name",
    "email",
    "received_at",
    "replied_at",
    "reply_status",
    "channel",
    "cancelled_at",
    "promoted_at",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: str) -> str:
    """Cells Excel would run as a formula get a leading apostrophe (OWASP CSV injection)."""
    if value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _time(value: datetime | None, tz: tzinfo) -> str:
    return "" if value is None else value.astimezone(tz).isoformat(timespec="seconds")


def render_csv(rows: Sequence[ExportRow], tz: tzinfo, delimiter: str = ";") -> str:
    """The export as text (without BOM): header row, then one row per registration in arrival order."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(COLUMNS)
    for r in rows:
        writer.writerow(
            [
                safe_cell(r.event_id),
                r.position,
                r.status,
                safe_cell(r.name),
                safe_cell(r.email),
                _time(r.received_at, tz),
                _time(r.replied_at, tz),
                r.reply_status,
                r.channel,
                _time(r.cancelled_at, tz),
                _time(r.promoted_at, tz),
            ]
        )
    return out.getvalue()


def encode_for_excel(text: str) -> bytes:
    """UTF-8 with BOM, so Excel opens umlauts correctly."""
    return "\ufeff".encode() + text.encode("utf-8")
