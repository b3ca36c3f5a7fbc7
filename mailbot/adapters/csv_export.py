"""CSV export for Excel: UTF-8 with BOM, ';' by default, formula injection escaped."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import datetime, tzinfo
from typing import TypeAlias

from mailbot.adapters.db import ExportRow

COLUMNS = (
    "event_id",
    "position",
    "status",
    "name",
    "email",
    "phone",
    "received_at",
    "replied_at",
    "reply_status",
    "channel",
    "cancelled_at",
    "promoted_at",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

Value: TypeAlias = str | int | datetime | None  # None: an empty cell (e.g. not cancelled)


def safe_cell(value: str) -> str:
    """Cells Excel would run as a formula get a leading apostrophe (OWASP CSV injection)."""
    if value.startswith(_FORMULA_START):
        return "'" + value
    return value


def export_values(row: ExportRow) -> tuple[Value, ...]:
    """One registration's values in COLUMNS order, unformatted (aware datetimes); shared with the xlsx."""
    return (
        row.event_id,
        row.position,
        row.status,
        row.name,
        row.email,
        row.phone,
        row.received_at,
        row.replied_at,
        row.reply_status,
        row.channel,
        row.cancelled_at,
        row.promoted_at,
    )


def _text(value: Value, tz: tzinfo) -> str | int:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(tz).isoformat(timespec="seconds")
    if isinstance(value, str):
        return safe_cell(value)
    return value


def render_csv(rows: Sequence[ExportRow], tz: tzinfo, delimiter: str = ";") -> str:
    """The export as text (without BOM): header row, then one row per registration in arrival order."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(COLUMNS)
    for r in rows:
        writer.writerow([_text(value, tz) for value in export_values(r)])
    return out.getvalue()


def encode_for_excel(text: str) -> bytes:
    """UTF-8 with BOM, so Excel opens umlauts correctly."""
    return "\ufeff".encode() + text.encode("utf-8")
