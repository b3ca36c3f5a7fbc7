"""Sub-address folding: the +tag goes, everything else of the address stays."""

from __future__ import annotations

import pytest

from mailbot.core.subaddress import fold


@pytest.mark.parametrize(
    ("address", "folded"),
    [
        ("anna+1@gmx.de", "anna@gmx.de"),
        ("anna+kurs+2020@gmx.de", "anna@gmx.de"),
        ("anna+@gmx.de", "anna@gmx.de"),
        ("anna@gmx.de", "anna@gmx.de"),
        ("anna.berg@gmx.de", "anna.berg@gmx.de"),
        ("+tag@gmx.de", "+tag@gmx.de"),
        ('"a+b"@gmx.de', '"a+b"@gmx.de'),
        ("jürgen+x@bücher.de", "jürgen@bücher.de"),
        ("no-at-sign", "no-at-sign"),
    ],
)
def test_fold_removes_only_the_tag(address: str, folded: str) -> None:
    """From the first "+" the local part is dropped; without a tag, a base, or quoted: unchanged."""
    assert fold(address) == folded
