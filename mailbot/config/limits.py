"""Sane sizes for the configuration: the config file, files it names, and its strings."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Final

from mailbot.errors import ConfigError

__all__ = [
    "CONFIG_FILE_BYTES",
    "DEFAULT_CHARS",
    "SECRET_FILE_BYTES",
    "TEXT_FILE_BYTES",
    "FileProblem",
    "read_small_file",
    "read_text_file",
    "too_long",
]

CONFIG_FILE_BYTES: Final = 1024 * 1024  # a config of a hundred events is some 50 KB
TEXT_FILE_BYTES: Final = 64 * 1024  # access_info_file: a link, a PIN, a few paragraphs
SECRET_FILE_BYTES: Final = 64 * 1024  # password_file, client_secret_file (the secret is its first bytes)
DEFAULT_CHARS: Final = 1000  # any string key without a limit of its own

_KINDS: Final = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class FileProblem(Exception):
    """A file named in the config is not a small regular file; the text says why, for "[table] key: ..."."""


def read_small_file(path: Path | str, limit: int) -> bytes:
    """The bytes of a regular file of at most `limit` bytes.

    Opened without blocking (a FIFO would wait for a writer forever) and checked before reading (a device
    like /dev/zero never ends): anything but a regular file, or a larger one, is a FileProblem. OSError
    (not found, permission) is the caller's to report.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise FileProblem("is a directory, not a file")
        if not stat.S_ISREG(mode):
            kind = next((name for test, name in _KINDS if test(mode)), "not a file")
            raise FileProblem(f"is not a regular file ({kind})")
        chunks, size = [], 0
        while size <= limit:  # read to the end, never more than limit + 1 bytes (the file may grow)
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > limit:
        raise FileProblem(f"is larger than {_size(limit)}")
    return b"".join(chunks)


def too_long(value: object, limit: int) -> str | None:
    """Why a string (or a string in a list) is too long for its key, or None when it fits."""
    items = value if isinstance(value, list) else [value]
    for item in items:
        if isinstance(item, str) and len(item) > limit:
            return f"is {len(item):,} characters long: at most {limit:,} allowed"
    return None


def _size(limit: int) -> str:
    return f"{limit // (1024 * 1024)} MiB" if limit >= 1024 * 1024 else f"{limit // 1024} KiB"


def read_text_file(path: str, key: str, file: Path, limit: int) -> str:
    """A small UTF-8 text file named by `key`, stripped; ConfigError (naming `key`) if it is not one."""
    try:
        return read_small_file(file, limit).decode("utf-8").strip()
    except FileProblem as problem:
        raise ConfigError(path, key, str(problem)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, key, f"cannot be read ({type(exc).__name__})") from None
