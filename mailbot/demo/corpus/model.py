"""A generated mail as it lies in the mailbox, and the kinds of mail the corpus holds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

KINDS = ("registration", "repeat", "unrelated", "auto-reply")
CRLF = "\r\n"
_T = TypeVar("_T")


@dataclass(frozen=True)
class CorpusMail:
    """One generated message, as it lies in the mailbox."""

    raw: bytes  # the full RFC 5322 message: 7-bit, CRLF line endings, as a mail client would send it
    internaldate: datetime  # aware; strictly increasing through the corpus (arrival order)
    kind: str  # "registration" | "repeat" | "unrelated" | "auto-reply"
    sender: str  # addr-spec of From
    name: str  # display name ("" if none)
    machine: bool = False  # sent by a machine although its kind is "unrelated" (a list newsletter)

    @property
    def outcome(self) -> str:
        """The ledger outcome the desk records for it (the keys of a pass's outcome counts)."""
        if self.kind == "registration":
            return "registered"
        if self.kind == "repeat":
            return "duplicate"
        return "machine" if self.kind == "auto-reply" or self.machine else "not-registration"
