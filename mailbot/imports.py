"""The reader of `mailbot import`, assembled beside bootstrap.py: a CSV typed up from paper."""

from __future__ import annotations

from pathlib import Path

from mailbot.adapters.addresses import EmailValidatorAddresses
from mailbot.adapters.exports.csv_import import ImportFileError, ImportRow, read_rows

__all__ = ["ImportFileError", "ImportRow", "read_import"]


def read_import(path: Path) -> list[ImportRow]:
    """The file's rows, each address checked with email-validator (ImportFileError names the bad line)."""
    check = EmailValidatorAddresses().check
    return read_rows(path, address_problem=lambda address: check(address).reason)
