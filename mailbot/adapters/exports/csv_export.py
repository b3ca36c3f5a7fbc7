"""CSV export for Excel: UTF-8 with BOM, ';' by default, formula injection escaped, German local times."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import datetime, tzinfo
from typing import TypeAlias

from mailbot.core.model import ExportRow

COLUMNS = (
    "event_id",
    "arrival_no",  # the arrival number: every registration of the event counted in arrival order (README)
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
    "seat",  # the seat number of a confirmed registration, as its replies state it
    "waitlist_place",  # the place on the waitlist of a waitlisted one
)
# The times again as local wall-clock times that German Excel and LibreOffice read as dates (an ISO 8601
# time with an offset stays text there). After COLUMNS: a script reading columns by position still works.
LOCAL_COLUMNS = ("received_at_local", "replied_at_local", "cancelled_at_local", "promoted_at_local")
CSV_COLUMNS = COLUMNS + LOCAL_COLUMNS
LOCAL_FORMAT = "%d.%m.%Y %H:%M:%S"  # TT.MM.JJJJ HH:MM:SS, the de-DE date-time Excel and LibreOffice recognise
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
        row.seat,
        row.waitlist_place,
    )


def _local(value: datetime | None, tz: tzinfo) -> str:
    """A time as TT.MM.JJJJ HH:MM:SS in `tz`, or empty."""
    return "" if value is None else value.astimezone(tz).strftime(LOCAL_FORMAT)


def _text(value: Value, tz: tzinfo) -> str | int:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(tz).isoformat(timespec="seconds")
    if isinstance(value, str):
        return safe_cell(value)
    return value


def render_csv(rows: Sequence[ExportRow], tz: tzinfo, delimiter: str = ";") -> str:
    """The export as text (without BOM): header row, then one row per registration in arrival order.

    The columns are CSV_COLUMNS: the times as ISO 8601 with offset (for machines), then once more as local
    times in `tz` (for German spreadsheets).
    """
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        local = [_local(t, tz) for t in (r.received_at, r.replied_at, r.cancelled_at, r.promoted_at)]
        writer.writerow([*(_text(value, tz) for value in export_values(r)), *local])
    return out.getvalue()


def encode_for_excel(text: str) -> bytes:
    """UTF-8 with BOM, so Excel opens umlauts correctly."""
    return "\ufeff".encode() + text.encode("utf-8")
