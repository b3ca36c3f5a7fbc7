"""The parser behind the seam (core/mime_reader.py) reads mail as the email package does, patching nothing."""

from __future__ import annotations

import email
import email.feedparser
import email.policy
import re
import subprocess
import sys
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailbot.core.mime_reader import BOUNDARY_RE, message_from_bytes
from mailbot.demo.corpus import build_corpus
from tests.core.test_parse import MAILISH, SEED, mutated_seed

DATA = Path(__file__).resolve().parents[1] / "data"
REAL_MAIL = sorted([*(DATA / "mail").glob("*.eml"), *(DATA / "bounces").glob("*")])
POLICIES = [email.policy.compat32, email.policy.default]


def shape(msg: Message) -> list[Any]:
    """What a reader of the message sees, part by part: headers, payloads, preamble, epilogue, defects."""
    parts: list[Any] = []
    for part in msg.walk():
        payload = None if part.is_multipart() else part.get_payload(decode=True)
        parts.append(
            (
                part.get_content_type(),
                [(str(k), str(v)) for k, v in part.raw_items()],
                payload,
                part.preamble,
                part.epilogue,
                [type(defect).__name__ for defect in part.defects],
            )
        )
    return parts


def assert_same(raw: bytes, policy: email.policy.Policy) -> None:
    """The seam's message and the email package's agree on shape and on their serialised bytes."""
    ours, reference = message_from_bytes(raw, policy), email.message_from_bytes(raw, policy=policy)
    assert shape(ours) == shape(reference)
    assert serialised(ours) == serialised(reference)


def serialised(msg: Message) -> bytes | str:
    """The message written back as bytes, or the name of the error writing it raises (broken input)."""
    try:
        return msg.as_bytes()
    except Exception as exc:  # noqa: BLE001 (the same failure on both sides is agreement too)
        return type(exc).__name__


def test_importing_it_patches_nothing() -> None:
    """Importing the parser (and the core's parse) leaves email.feedparser's `re` the real module."""
    code = (
        "import re, email.feedparser, mailbot.core.parse, mailbot.core.bounce\n"
        "print(email.feedparser.re is re)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "True"


@pytest.mark.parametrize("policy", POLICIES, ids=["compat32", "default"])
def test_corpus_reads_as_the_email_package_reads_it(policy: email.policy.Policy) -> None:
    """Every mail of the sample corpus (multipart, HTML, bounces, auto-replies) reads as the reference."""
    corpus = build_corpus(registrations=300, repeats=30, unrelated=40, auto_replies=20)
    assert sum(m.raw.lower().count(b"boundary=") > 0 for m in corpus) > 100  # multipart mails are there
    for mail in corpus:
        assert_same(mail.raw, policy)


@pytest.mark.parametrize("path", REAL_MAIL, ids=lambda path: path.name)
def test_real_mail_reads_as_the_email_package_reads_it(path: Path) -> None:
    """Each real mail and bounce of tests/data gives the reference's message."""
    assert_same(path.read_bytes(), email.policy.compat32)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=500) | MAILISH | mutated_seed())
def test_broken_input_reads_as_the_email_package_reads_it(raw: bytes) -> None:
    """Arbitrary and mutated bytes (broken boundaries, nested parts) read as the reference, defects too."""
    assert_same(raw, email.policy.compat32)


def test_nested_multiparts_read_as_the_email_package_reads_them() -> None:
    """A nested multipart (nested boundaries, a forwarded message) gives the reference's message."""
    assert b"multipart/alternative" in SEED
    assert_same(SEED, email.policy.compat32)


# The feedparser's boundary pattern, as email.feedparser writes it (CPython 3.11-3.13).
def feedparser_boundary_pattern(separator: str) -> str:
    """The pattern email.feedparser compiles for a multipart mail's separator."""
    return "(?P<sep>" + re.escape(separator) + r")(?P<end>--)?(?P<ws>[ \t]*)(?P<linesep>\r\n|\r|\n)?$"


_BOUNDARY_CHARS = st.text(
    alphabet=st.sampled_from("aZ09'()+_,-./:=? \t\\$^*[]|\r\n"), min_size=1, max_size=12
)


@settings(max_examples=400)
@given(boundary=_BOUNDARY_CHARS, tail=st.text(alphabet=st.sampled_from("-- \t\r\nx$"), max_size=8))
def test_boundary_matcher_agrees_with_the_compiled_pattern(boundary: str, tail: str) -> None:
    """Boundary lines are matched as the feedparser's compiled pattern would: the same lines and groups."""
    separator = "--" + boundary
    pattern = feedparser_boundary_pattern(separator)
    ours, real = BOUNDARY_RE.compile(pattern), re.compile(pattern)
    assert not isinstance(ours, re.Pattern)  # the pattern was not compiled
    for line in (separator + tail, separator[:-1] + tail, "x" + separator + tail, tail):
        got, want = ours.match(line), real.match(line)
        assert (got is None) == (want is None), line
        if got is not None and want is not None:
            assert [got.group(g) for g in ("end", "ws", "linesep")] == [
                want.group(g) for g in ("end", "ws", "linesep")
            ]


def test_other_patterns_are_compiled_as_before() -> None:
    """Patterns other than the boundary's reach the copied feedparser as real compiled patterns."""
    assert isinstance(BOUNDARY_RE.compile(r"\r\n|\r|\n"), re.Pattern)
    assert BOUNDARY_RE.escape("a.b") == re.escape("a.b")
