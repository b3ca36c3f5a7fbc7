"""The address checks' port: syntax only, the key that recognises a person, the form replies go to."""

from __future__ import annotations

from typing import Protocol

from mailbot.core.model import CheckedAddress


class Addresses(Protocol):
    """Checks addresses (adapters/addresses.py with email-validator; bootstrap hands it to the desk)."""

    def check(self, address: str) -> CheckedAddress:
        """`address` checked for syntax only; internationalised addresses (RFC 6531, IDNA 2008) are valid."""
        ...

    def normalize(self, address: str) -> str | None:
        """The normalised, lower-cased address used to recognise one person; None when invalid."""
        ...

    def reply_address(self, address: str) -> str:
        """The form of `address` replies are written and sent to (domain in A-labels where that suffices);
        an address that doesn't pass the check is returned as it is."""
        ...
