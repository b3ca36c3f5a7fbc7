"""Address normalisation with email-validator (syntax only, no DNS)."""

from __future__ import annotations

import functools

from email_validator import EmailNotValidError, validate_email


@functools.lru_cache(maxsize=4096)  # a pass asks twice per mail (read-ahead, then the mail itself)
def normalize_address(address: str) -> str | None:
    """The normalised, lower-cased address used to recognise one person; None when invalid."""
    try:
        result = validate_email(address, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError:
        return None
    return str(result.normalized).lower()
