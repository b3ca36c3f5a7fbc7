"""What may leave the process in a log line or a stored reason: addresses masked, no SQL, no parameters."""

from __future__ import annotations

import re

__all__ = ["describe_error", "hide_sql", "mask_address", "mask_addresses"]

# An address in free text (SMTP refusal texts, DSN diagnostics, library messages): a word with an "@" in
# it, between delimiters. Broad on purpose: a Message-ID or a URL's user:password@host is masked too.
# Linear: a match starts only at the start of a word (the lookbehind), so no word is scanned twice.
_D = r"\s<>()\[\]{}'\",;:"
_ADDRESS = re.compile(rf"(?<![^{_D}])[^{_D}@]*@[^{_D}]*")
# SQLAlchemy appends the statement and its parameters to its errors' text, up to the "Background" link
# (statements and their values can hold anybody's name and address).
_SQL = re.compile(
    r"\[SQL: .*?(?=\n\(Background on this error at: [^\n]*\)|\n\nThe above exception|\n\nDuring handling|\Z)",
    re.DOTALL,
)
_SQL_ONE_LINE = re.compile(r"\[(?:SQL|parameters): .*", re.DOTALL)
# PostgreSQL's detail lines quote the values of a row ("Key (email)=(a@b.example) already exists").
_DETAIL = re.compile(r"^(DETAIL|CONTEXT|LINE \d+|QUERY|STATEMENT):.*$", re.MULTILINE)


def mask_address(address: str | None) -> str:
    """An address fit for logs: ``a***@example.org`` (no personal data in logs); ``-`` for none."""
    if not address or "@" not in address:
        return "-"
    local, _, domain = address.rpartition("@")
    return f"{local[:1]}***@{domain}"


def mask_addresses(text: str) -> str:
    """Free text with every address in it masked (masked ones stay as they are)."""
    if "@" not in text:
        return text
    return _ADDRESS.sub(lambda found: mask_address(found.group(0)), text)


def hide_sql(text: str) -> str:
    """Text (a traceback, an error message) without SQLAlchemy's statements and parameters or PG details."""
    if "[SQL: " in text:
        text = _SQL.sub("[SQL hidden]", text)
    if ":" in text:
        text = _DETAIL.sub(r"\1: [hidden]", text)
    return text


def describe_error(exc: BaseException) -> str:
    """An error in one line with its type: a database error by its driver's message only (no SQL, no values).

    SQLAlchemy's errors (they have `statement` and `orig`) print the statement and its parameters; the
    driver's own message is enough to tell what went wrong ("database is locked", "connection refused").
    """
    orig = getattr(exc, "orig", None)
    if hasattr(exc, "statement") and isinstance(orig, BaseException):
        lines = str(orig).strip().splitlines()
        first = " ".join(lines[0].split()) if lines else ""
        names = [type(exc).__name__, type(orig).__name__]
        return ": ".join([*dict.fromkeys(names), *([first] if first else [])])
    text = str(exc)
    module = type(exc).__module__
    if module.startswith(("psycopg", "sqlite3")):
        text = text.strip().splitlines()[0] if text.strip() else ""
    text = " ".join(_SQL_ONE_LINE.sub("[SQL hidden]", text).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
