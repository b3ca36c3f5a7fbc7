"""Pure IMAP response handling: FETCH answers read without imapclient's lexer, sequence sets, error lines."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from mailbot.ports import MessageMeta

_UID = re.compile(rb"\bUID (\d+)")
_SIZE = re.compile(rb"\bRFC822\.SIZE (\d+)")
_INTERNALDATE = re.compile(
    rb'\bINTERNALDATE "([ \d]\d)-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([-+])(\d\d)(\d\d)"'
)
_MONTHS = {
    m: n
    for n, m in enumerate(
        (b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov", b"dec"),
        start=1,
    )
}


def sequence_set(uids: Sequence[int]) -> str:
    """The UIDs as an IMAP sequence set, runs as ranges: "1:200,205"."""
    runs: list[str] = []
    ordered = sorted(uids)
    start = previous = ordered[0]
    for uid in [*ordered[1:], None]:
        if uid is not None and uid == previous + 1:
            previous = uid
            continue
        runs.append(str(start) if start == previous else f"{start}:{previous}")
        if uid is not None:
            start = previous = uid
    return ",".join(runs)


def read_metas(data: list[Any], wanted: set[int]) -> list[MessageMeta] | None:
    """Date (in UTC) and size of each wanted UID from a raw FETCH answer; None when a line is unexpected."""
    metas = []
    for line in data:
        if not isinstance(line, bytes):
            return None
        uid, when, size = _UID.search(line), _INTERNALDATE.search(line), _SIZE.search(line)
        if uid is None or when is None or size is None:
            return None
        day, month, year, hour, minute, second, sign, zone_h, zone_m = when.groups()
        number = _MONTHS.get(month.lower())
        if number is None:
            return None
        offset = timedelta(hours=int(zone_h), minutes=int(zone_m)) * (1 if sign == b"+" else -1)
        try:
            local = datetime(int(year), number, int(day), int(hour), int(minute), int(second))  # noqa: DTZ001
        except ValueError:
            return None
        if int(uid.group(1)) in wanted:  # unsolicited answers for other messages are dropped
            metas.append(
                MessageMeta(
                    uid=int(uid.group(1)),
                    internaldate=(local - offset).replace(tzinfo=UTC),
                    size=int(size.group(1)),
                )
            )
    return metas


def read_bodies(data: list[Any], wanted: set[int]) -> dict[int, bytes] | None:
    """The bytes of each wanted UID from a raw FETCH BODY.PEEK[] answer; None when a part is unexpected."""
    bodies: dict[int, bytes] = {}
    pending: bytes | None = None  # a literal whose UID follows it ("BODY[] {n} ... UID 7)")
    for item in data:
        if isinstance(item, tuple):
            head, literal = item
            if pending is not None or b"BODY[]" not in head or not isinstance(literal, bytes):
                return None
            uid = _UID.search(head)
            if uid is None:
                pending = literal
            elif int(uid.group(1)) in wanted:
                bodies[int(uid.group(1))] = literal
        elif not isinstance(item, bytes) or b"BODY[" in item:
            return None  # BODY[] NIL, or something else than a literal
        elif pending is not None:
            uid = _UID.search(item)
            if uid is None:
                return None
            if int(uid.group(1)) in wanted:
                bodies[int(uid.group(1))] = pending
            pending = None
    return None if pending is not None else bodies


def one_line(exc: BaseException) -> str:
    """The error's text on one line; imaplib hands server answers over as bytes or their repr (b'...')."""
    arg = exc.args[0] if len(exc.args) == 1 else None
    text = arg.decode("utf-8", "replace") if isinstance(arg, bytes) else str(exc)
    quoted = re.fullmatch(r"b(['\"])(.*)\1", text, re.DOTALL)
    if quoted:
        text = quoted.group(2)
    if isinstance(exc, TimeoutError) and text in ("", "timed out"):
        text = "timed out (no answer within [imap] timeout)"
    text = text or type(exc).__name__
    return " ".join(text.split())
