"""The SQLite database and its companion files hold personal data: only their owner may read them (0600)."""

from __future__ import annotations

import os
import stat

__all__ = ["COMPANIONS", "PRIVATE", "create_private", "keep_private", "open_private"]

PRIVATE = 0o600
# Next to the database: SQLite's write-ahead log and shared memory (they take the database file's mode when
# SQLite creates them), a rollback journal, the sending process's journal, the leader lock.
COMPANIONS = ("-wal", "-shm", "-journal", ".sent", ".leader")


def open_private(path: str, flags: int) -> int:
    """os.open with O_CREAT and mode 0600 (the umask can only take bits away from it)."""
    return os.open(path, flags | os.O_CREAT, PRIVATE)


def create_private(path: str) -> None:
    """Create an empty file with mode 0600 if there is none (an empty file is a new SQLite database).

    SQLite would create it with 0644 less the umask, and its -wal and -shm files with the same mode.
    A path that can't be created (no such folder, no permission) is left for SQLite to report.
    """
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE))
    except OSError:
        return


def keep_private(database: str) -> list[str]:
    """Create the database file 0600 if missing; take group and others' bits off it and its companions.

    Only files this user owns are changed (others are the administrator's business). Returns the paths it
    tightened, for a log line.
    """
    create_private(database)
    tightened = []
    for path in (database, *(database + suffix for suffix in COMPANIONS)):
        try:
            info = os.stat(path, follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid() or not info.st_mode & 0o077:
            continue
        try:
            os.chmod(path, stat.S_IMODE(info.st_mode) & ~0o077)
        except OSError:
            continue
        tightened.append(path)
    return tightened
