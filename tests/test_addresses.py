"""Address checks: syntax only (special-use domains pass), IDN forms, and the reason for a refusal."""

from __future__ import annotations

import pytest

from mailbot.adapters.addresses import EmailValidatorAddresses
from mailbot.ports.addresses import Addresses

ADDRESSES: Addresses = EmailValidatorAddresses()


@pytest.mark.parametrize(
    ("address", "normalized"),
    [
        pytest.param("hotline@Stadt.LOCAL", "hotline@stadt.local", id="local"),
        pytest.param("probe@test", "probe@test", id="test-alone"),
        pytest.param("a@b.test", "a@b.test", id="test"),
        pytest.param("a@b.invalid", "a@b.invalid", id="invalid"),
        pytest.param("a@localhost", "a@localhost", id="localhost"),
        pytest.param("a@hidden.onion", "a@hidden.onion", id="onion"),
        pytest.param("a@amt.intern", "a@amt.intern", id="intern"),
        pytest.param("a@rathaus", "a@rathaus", id="no-dot"),
        pytest.param("x@müller.local", "x@müller.local", id="idn-local"),
    ],
)
def test_special_use_and_internal_domains_pass_the_syntax_check(address: str, normalized: str) -> None:
    """The desk checks syntax only: `.local`, `.test`, `.invalid`, ... (RFC 6761) are valid senders."""
    assert ADDRESSES.normalize(address) == normalized


def test_the_special_use_check_keeps_the_syntax_rules() -> None:
    """Behind a special-use name the usual syntax rules still apply (with their reason)."""
    assert ADDRESSES.check("a..b@stadt.local").reason == "An email address cannot have two periods in a row."
    assert ADDRESSES.check("a@-x.local").normalized is None
    assert ADDRESSES.check("a@" + "x" * 64 + ".local").normalized is None  # a label of 64 octets


def test_idn_forms_are_one_person_and_replies_go_to_a_labels() -> None:
    """U-labels and A-labels of one domain normalise alike; an ASCII local part is answered in A-labels, a
    non-ASCII one as it is (only SMTPUTF8 can carry it)."""
    assert (
        ADDRESSES.normalize("Anna@MÜLLER.de")
        == ADDRESSES.normalize("anna@xn--mller-kva.de")
        == "anna@müller.de"
    )
    assert ADDRESSES.reply_address("Anna@müller.de") == "Anna@xn--mller-kva.de"
    assert ADDRESSES.reply_address("a@straße.de") == "a@xn--strae-oqa.de"  # IDNA 2008, not 2003's "strasse"
    assert ADDRESSES.reply_address("jörg@bürger.de") == "jörg@bürger.de"
    assert ADDRESSES.normalize("JÖRG@BÜRGER.DE") == "jörg@bürger.de"


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("hans", "An email address must have an @-sign."),
        ("hans..meier@example.org", "An email address cannot have two periods in a row."),
        ("hans@[192.0.2.1]", "A bracketed IP address after the @-sign is not allowed here."),
        ("a@xn--zz.de", "The part after the @-sign is not valid IDNA (Invalid A-label)."),
    ],
)
def test_a_refused_address_comes_with_its_reason(address: str, reason: str) -> None:
    """A refusal says why, in one line; reply_address() gives a refused address back as it is."""
    checked = ADDRESSES.check(address)
    assert (checked.normalized, checked.reason) == (None, reason)
    assert ADDRESSES.reply_address(address) == address


def test_the_check_is_cached_for_the_whole_process() -> None:
    """Two instances share one cache (a pass asks twice per mail): the second check is the first's result."""
    first = EmailValidatorAddresses().check("Anna+kurs@Müller.de")
    assert EmailValidatorAddresses().check("Anna+kurs@Müller.de") is first
    assert first.normalized == "anna+kurs@müller.de"
