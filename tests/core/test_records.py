"""The store's records: how admins read the state of a registration's latest reply."""

from __future__ import annotations

import pytest

from mailbot.core.records import reply_state


@pytest.mark.parametrize(
    ("undeliverable", "sent", "failed", "expected"),
    [
        (True, True, False, "undeliverable"),  # a bounce outweighs the server's acceptance
        (False, None, None, "none"),
        (False, True, False, "sent"),
        (False, False, True, "failed"),
        (False, False, False, "pending"),
    ],
)
def test_reply_state(undeliverable: bool, sent: bool | None, failed: bool | None, expected: str) -> None:
    """A bounce makes a registration undeliverable; else its latest reply is none, sent, failed or pending."""
    assert reply_state(undeliverable=undeliverable, sent=sent, failed=failed) == expected
