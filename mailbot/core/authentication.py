"""The optional sender-trust gate: is the From domain vouched for by the receiving server (RFC 8601)?

Only the topmost Authentication-Results header counts: it is the one the receiving server added (RFC 8601 §5
tells servers to remove look-alikes of their own results from incoming mail; anything below may be forged).
The sender counts as authenticated when DMARC passed for the From domain, or SPF passed for an envelope
domain aligned with it (the same domain, or one a subdomain of the other: relaxed alignment, RFC 7489 §3.1.2).
"""

from __future__ import annotations

import re

from mailbot.core.model import InboundMessage

_RESULT = re.compile(r"(?<![\w.-])(dmarc|spf|dkim)\s*=\s*(\w+)([^;]*)", re.IGNORECASE)
_PROPERTY = re.compile(r"(header\.from|smtp\.mailfrom|header\.d)\s*=\s*\"?([^\s;\"]+)", re.IGNORECASE)


def _aligned(a: str, b: str) -> bool:
    a, b = a.lower().strip("."), b.lower().strip(".")
    return a == b or a.endswith("." + b) or b.endswith("." + a)


def authenticated(msg: InboundMessage) -> tuple[bool, str]:
    """(trusted, why): DMARC pass for the From domain, or SPF pass aligned with it, in the topmost header."""
    if msg.sender is None or "@" not in msg.sender.address:
        return False, "no sender address"
    domain = msg.sender.address.rsplit("@", 1)[1]
    header = msg.header("authentication-results")
    if header is None:
        return False, "no Authentication-Results header"
    for method, result, rest in _RESULT.findall(header):
        props = {k.lower(): v for k, v in _PROPERTY.findall(rest)}
        if result.lower() != "pass":
            continue
        if method.lower() == "dmarc" and _aligned(props.get("header.from", domain), domain):
            return True, f"dmarc=pass for {domain}"
        if method.lower() == "spf":
            envelope = props.get("smtp.mailfrom", "").rsplit("@", 1)[-1]
            if envelope and _aligned(envelope, domain):
                return True, f"spf=pass aligned with {domain}"
    return False, f"neither DMARC nor aligned SPF passed for {domain}"
