"""The sender-trust gate reads only the receiving server's Authentication-Results (RFC 8601)."""

from __future__ import annotations

import pytest

from mailbot.core.authentication import authenticated
from mailbot.core.model import Address, InboundMessage


def message(*results: str, sender: str = "anna@gmx.de") -> InboundMessage:
    """A mail from `sender` with these Authentication-Results headers, topmost first."""
    headers = tuple(("authentication-results", r) for r in results)
    return InboundMessage(
        subject="x",
        sender=Address("Anna", sender),
        message_id=None,
        in_reply_to=(),
        references=(),
        headers=headers,
        text="",
    )


@pytest.mark.parametrize(
    ("results", "trusted"),
    [
        (["mx.city.de; dmarc=pass (p=none) header.from=gmx.de"], True),
        (["mx.city.de; spf=pass smtp.mailfrom=anna@gmx.de"], True),
        (["mx.city.de; spf=pass smtp.mailfrom=bounce@mail.gmx.de"], True),  # relaxed alignment
        (["mx.city.de; spf=pass smtp.mailfrom=x@spammer.example"], False),  # not aligned
        (["mx.city.de; dmarc=fail header.from=gmx.de; spf=softfail"], False),
        (["mx.city.de; dkim=pass header.d=gmx.de"], False),  # DKIM alone is not DMARC
        ([], False),
        (["mx.city.de; dmarc=fail header.from=gmx.de", "forged; dmarc=pass header.from=gmx.de"], False),
    ],
    ids=["dmarc", "spf", "spf-subdomain", "spf-unaligned", "fail", "dkim-only", "none", "forged-below"],
)
def test_gate(results: list[str], trusted: bool) -> None:
    """DMARC pass or aligned SPF pass in the topmost header trusts the sender; anything else holds it."""
    assert authenticated(message(*results))[0] is trusted
