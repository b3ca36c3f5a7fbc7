"""Reading a list typed up from paper: validated completely before anything is imported."""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from mailbot.errors import MailbotError

FIELDS = ("name", "email", "phone", "received_at")
_PHONE = re.compile(r"^\+?[0-9 ()/.-]{5,30}$")


class ImportFileError(MailbotError):
    """A row of the import file is not valid; nothing was imported."""


@dataclass(frozen=True)
class ImportRow:
    """One person from the list."""

    line: int
    name: str
    email: str | None
    phone: str | None
    received_at: datetime | None


def read_rows(path: Path, *, address_problem: Callable[[str], str]) -> list[ImportRow]:
    """All rows of a CSV (`;` or `,`, UTF-8 with or without BOM, header `name;email;phone;received_at`).

    Each row needs a name and an email address or a phone number; received_at, when given, is ISO 8601
    with offset. `address_problem` says why an address can't be used ('' when it can). The first bad row
    raises ImportFileError naming its line.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportFileError(f"{path}: cannot be read as UTF-8 text ({type(exc).__name__})") from None
    first = text.splitlines()[0] if text.strip() else ""
    delimiter = ";" if first.count(";") >= first.count(",") else ","
    reader = csv.DictReader(text.splitlines(), delimiter=delimiter)
    header = [h.strip().lower() for h in reader.fieldnames or []]
    unknown = [h for h in header if h not in FIELDS]
    if "name" not in header or unknown:
        raise ImportFileError(
            f"{path}: line 1: the header must name the columns {', '.join(FIELDS)} (name is required)"
            + (f"; unknown: {', '.join(unknown)}" if unknown else "")
        )
    rows = []
    for number, raw in enumerate(reader, start=2):
        values = {k.strip().lower(): (v or "").strip() for k, v in raw.items() if k is not None}
        if not any(values.values()):
            continue
        rows.append(_row(path, number, values, address_problem))
    if not rows:
        raise ImportFileError(f"{path}: no rows to import")
    return rows


def _row(path: Path, line: int, values: dict[str, str], address_problem: Callable[[str], str]) -> ImportRow:
    def bad(problem: str) -> ImportFileError:
        return ImportFileError(f"{path}: line {line}: {problem}")

    name = values.get("name", "")
    email = values.get("email") or None
    phone = values.get("phone") or None
    when = values.get("received_at") or None
    if not name:
        raise bad("name is missing")
    if email is None and phone is None:
        raise bad("give an email address or a phone number")
    if email is not None:
        reason = address_problem(email)  # syntax only, as for mail (stadt.local, IDN are fine)
        if reason:
            raise bad(f"email {email!r} is not valid ({reason})")
    if phone is not None and not _PHONE.match(phone):
        raise bad(f"phone {phone!r} is not a phone number")
    received_at = None
    if when is not None:
        try:
            received_at = datetime.fromisoformat(when)
        except ValueError:
            raise bad(f"received_at {when!r} is not ISO 8601 (e.g. 2020-09-21T10:15:00+02:00)") from None
        if received_at.tzinfo is None:
            raise bad(f"received_at {when!r} has no UTC offset")
    return ImportRow(line=line, name=name, email=email, phone=phone, received_at=received_at)
