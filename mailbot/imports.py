"""The reader of `mailbot import`, assembled beside bootstrap.py: a CSV typed up from paper."""

from __future__ import annotations

from pathlib import Path

from mailbot.adapters.exports.csv_import import ImportFileError, ImportRow, read_rows
from mailbot.wiring import addresses

__all__ = ["ImportFileError", "ImportRow", "read_import"]


def read_import(path: Path) -> list[ImportRow]:
    """The file's rows, each address checked with email-validator (ImportFileError names the bad line)."""
    check = addresses().check  # the desk's address checks, built in one place
    return read_rows(path, address_problem=lambda address: check(address).reason)
