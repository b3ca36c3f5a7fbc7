"""The sent journal beside a SQLite database: replies the SMTP server accepted, one line each."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path


class SentJournal:
    """Append-only lines "<outbox id> <ISO time>" in a file next to the SQLite database."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def append(self, outbox_id: int, when: datetime) -> None:
        """Record one accepted reply (one write: a killed process leaves whole lines or none)."""
        if self._fd is None:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.write(self._fd, f"{outbox_id} {when.isoformat()}\n".encode())

    def entries(self) -> list[tuple[int, datetime]]:
        """Every reply recorded here and not folded yet, oldest first (a torn last line is ignored)."""
        try:
            text = self.path.read_text(encoding="ascii", errors="replace")
        except FileNotFoundError:
            return []
        found = []
        for line in text.splitlines():
            outbox_id, _, when = line.partition(" ")
            try:
                found.append((int(outbox_id), datetime.fromisoformat(when)))
            except ValueError:
                continue
        return found

    def clear(self) -> None:
        """Forget the entries once the database holds them (call it after that transaction committed)."""
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
        elif self.path.exists():
            with self.path.open("r+b") as handle:
                handle.truncate(0)

    def close(self) -> None:
        """Close the file (the entries stay)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
