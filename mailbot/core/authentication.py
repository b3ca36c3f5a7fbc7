"""The optional sender-trust gate: is the From domain vouched for by our own receiving server (RFC 8601)?"""

from __future__ import annotations

import re

from mailbot.core.model import InboundMessage

_RESULT = re.compile(r"(?<![\w.-])(dmarc|spf|dkim)\s*=\s*(\w+)([^;]*)", re.IGNORECASE)
_PROPERTY = re.compile(r"(header\.from|smtp\.mailfrom|header\.d)\s*=\s*\"?([^\s;\"]+)", re.IGNORECASE)
# RFC 2045 tspecials, space and controls end a token (RFC 8601 §2.2: authserv-id = token / quoted-string)
_TOKEN = re.compile(r'[^()<>@,;:\\"/\[\]?=\s]*')
# White space and comments before it (RFC 5322 CFWS; a nested comment is not skipped: nothing trusted then).
# The alternatives start with different characters and the quantifiers are possessive: linear in the value.
_CFWS = re.compile(r"(?:\s++|\((?:[^()\\]++|\\.)*+\))*+", re.DOTALL)


def _aligned(a: str, b: str) -> bool:
    a, b = a.lower().strip("."), b.lower().strip(".")
    return a == b or a.endswith("." + b) or b.endswith("." + a)


def authserv_id(value: str) -> str:
    """The authserv-id a header value starts with (a token or a quoted string), lower-case; '' if none."""
    i = _CFWS.match(value).end()  # type: ignore[union-attr]  # matches the empty string too
    if value[i : i + 1] == '"':
        end = value.find('"', i + 1)
        return value[i + 1 : end if end >= 0 else len(value)].replace("\\", "").strip().lower()
    return _TOKEN.match(value, i).group().lower()  # type: ignore[union-attr]  # matches the empty string too


def authenticated(msg: InboundMessage, trusted_id: str) -> tuple[bool, str]:
    """(trusted, why): DMARC pass for the From domain, or SPF pass aligned with it, in a header of ours.

    `trusted_id` is our receiving server's authserv-id; headers with any other id (or none) are ignored.
    """
    if msg.sender is None or "@" not in msg.sender.address:
        return False, "no sender address"
    domain = msg.sender.address.rsplit("@", 1)[1]
    wanted = trusted_id.strip().lower()
    ours = [
        value
        for name, value in msg.headers
        if name == "authentication-results" and wanted and authserv_id(value) == wanted
    ]
    if not ours:
        return False, f"no Authentication-Results of {wanted or 'a configured authserv_id'}"
    for header in ours:
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
