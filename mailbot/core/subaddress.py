"""Sub-addresses (RFC 5233): `anna+1@…` and `anna+2@…` are one mailbox, so one person for seat counting."""

from __future__ import annotations


def fold(address: str) -> str:
    """The address without its `+tag` (``anna+kurs@gmx.de`` -> ``anna@gmx.de``); others unchanged.

    Only an unquoted local part with something before the first "+" is folded: ``+tag@x`` and quoted local
    parts (``"a+b"@x``) stay as they are.
    """
    local, at, domain = address.rpartition("@")
    if not at or local.startswith('"'):
        return address
    base, plus, _ = local.partition("+")
    return f"{base}@{domain}" if plus and base else address
