"""Address checks with email-validator: syntax only (no DNS, no policy on domains), a reason when refused."""

from __future__ import annotations

import functools

from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, ValidatedEmail, validate_email

from mailbot.core.model import CheckedAddress


@functools.lru_cache(maxsize=4096)  # a pass asks twice per mail (read-ahead, then the mail itself)
def _checked(address: str) -> CheckedAddress:
    """Check `address` for syntax only; internationalised addresses (RFC 6531, IDNA 2008) are valid."""
    try:
        result = _validated(address)
    except EmailNotValidError as exc:
        return CheckedAddress(None, address, reason=str(exc) or type(exc).__name__)
    normalized = str(result.normalized)
    reply_to = str(result.ascii_email) if result.ascii_email else normalized
    return CheckedAddress(normalized.lower(), reply_to)


class EmailValidatorAddresses:
    """The `Addresses` port (ports/addresses.py) with email-validator; one cache for the whole process."""

    # The cached check itself, not a method calling it: the pass asks twice per mail, so no frame more.
    check = staticmethod(_checked)

    def normalize(self, address: str) -> str | None:
        """The normalised, lower-cased address used to recognise one person; None when invalid."""
        return _checked(address).normalized

    def reply_address(self, address: str) -> str:
        """The form of `address` replies are written and sent to (domain in A-labels where that suffices);
        an address that doesn't pass the check is returned as it is."""
        return _checked(address).reply_to


def _validated(address: str) -> ValidatedEmail:
    """email-validator's syntax check, without its refusal of special-use domain names.

    email-validator refuses `.local`, `.test`, `.invalid`, `localhost`, ... (RFC 6761) even with
    `globally_deliverable=False`: a policy for sign-up forms, not syntax. Staff test the desk from internal
    domains (`stadt.local`), and the desk promises a syntax check only. Such a name is checked with its
    special-use suffix replaced by a neutral label of the same length (the length limits still apply), and
    put back afterwards.
    """
    local, at, domain = address.rpartition("@")
    suffix = _special_use_suffix(domain) if at else ""
    if not suffix:
        return _syntax(address)
    neutral = "x" * len(suffix)
    result = _syntax(f"{local}@{domain[: -len(suffix)]}{neutral}")
    for key in ("normalized", "domain", "ascii_email", "ascii_domain"):
        value = getattr(result, key)
        if value:
            setattr(result, key, value[: -len(neutral)] + suffix)
    return result


def _syntax(address: str) -> ValidatedEmail:
    return validate_email(
        address, check_deliverability=False, allow_smtputf8=True, globally_deliverable=False
    )


def _special_use_suffix(domain: str) -> str:
    """The special-use name `domain` is or ends in (lower-cased), or ""."""
    lowered = domain.lower()
    for name in SPECIAL_USE_DOMAIN_NAMES:
        if lowered == name or lowered.endswith("." + name):
            return name
    return ""
