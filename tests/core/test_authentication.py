"""The sender-trust gate reads only the Authentication-Results of our own receiving server (RFC 8601)."""

from __future__ import annotations

import time

import pytest

from mailbot.core.authentication import authenticated, authserv_id
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
        (["mx.evil.example; dmarc=pass header.from=gmx.de", "mx.city.de; dmarc=fail"], False),  # forged above
        (["mx.evil.example; dmarc=pass header.from=gmx.de"], False),  # our server added none
        (["mx.city.de.evil.example; dmarc=pass header.from=gmx.de"], False),  # a look-alike id
        (["mx.city.de; dmarc=pass header.from=evil.example"], False),  # another domain's pass
        (["mx.evil.example; dmarc=pass header.from=gmx.de", "MX.City.DE 1; dmarc=pass"], True),  # ours below
        (["mx.city.de; spf=none", "mx.city.de; dmarc=pass header.from=gmx.de"], True),  # one result each
        (['(relay) "mx.city.de"; dmarc=pass header.from=gmx.de'], True),  # comment, quoted id
    ],
    ids=[
        "dmarc",
        "spf",
        "spf-subdomain",
        "spf-unaligned",
        "fail",
        "dkim-only",
        "none",
        "forged-below",
        "forged-above",
        "forged-only",
        "look-alike-id",
        "other-domain",
        "ours-below-forged",
        "two-of-ours",
        "comment-quoted-id",
    ],
)
def test_gate(results: list[str], trusted: bool) -> None:
    """DMARC or aligned SPF pass in a header with our authserv-id trusts the sender; other ids never count."""
    assert authenticated(message(*results), "mx.city.de")[0] is trusted


def test_without_an_authserv_id_nothing_is_trusted() -> None:
    """An empty authserv-id trusts no header at all (the config refuses it; the core fails closed too)."""
    assert authenticated(message("mx.city.de; dmarc=pass header.from=gmx.de"), "") == (
        False,
        "no Authentication-Results of a configured authserv_id",
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("mx.city.de; spf=pass", "mx.city.de"),
        ("  mx.city.de 1; none", "mx.city.de"),
        ("(a comment) mx.city.de;", "mx.city.de"),
        ("(a (nested) comment) mx.city.de;", ""),  # legal, but no server writes it: trust nothing then
        ('"mx.city.de"; dmarc=pass', "mx.city.de"),
        ("MX.City.De;dmarc=pass", "mx.city.de"),
        ("; dmarc=pass", ""),
        ("", ""),
    ],
)
def test_authserv_id_is_read_as_rfc_8601_writes_it(value: str, expected: str) -> None:
    """The authserv-id is the first token or quoted string after comments and white space, lower-cased."""
    assert authserv_id(value) == expected


@pytest.mark.parametrize(
    "value",
    ["(" * 1_000_000, "(" + "x" * 1_000_000, "(" + "\\x" * 500_000, "a" * 1_000_000, " " * 1_000_000],
    ids=["open-parens", "open-comment", "escapes", "long-token", "spaces"],
)
def test_a_megabyte_of_adversarial_header_is_read_in_linear_time(value: str) -> None:
    """1 MB of comment, escape or token characters: read well under a second (linear takes milliseconds)."""
    started = time.perf_counter()
    authenticated(message(value + "; dmarc=pass header.from=gmx.de"), "mx.city.de")
    assert time.perf_counter() - started < 1.0
