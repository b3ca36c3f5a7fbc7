"""The IMAP adapter's own reading of FETCH answers: the same dates, sizes and bytes as imapclient reads."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest

from mailbot.adapters.imap import ImapMailbox, responses
from tests.servers import Dovecot, ImapAccount

# Bodies that look like protocol: parentheses, a literal marker, "UID", 8-bit bytes, no final line end.
BODIES = [
    b"From: a@example.org\r\nSubject: x\r\n\r\nbody ) UID 7 {5}\r\n",
    b"From: b@example.org\r\nSubject: =?utf-8?q?B=C3=BCrger?=\r\n\r\n\xc3\xa4\xff BODY[] (RFC822.SIZE 1)",
    b"X: y\r\n\r\nz",
    b"From: c@example.org\r\n\r\n" + b"Zeile\r\n" * 2000,
]
DATES = [
    datetime(2020, 9, 5, 8, 0, tzinfo=timezone(timedelta(hours=2))),
    datetime(2020, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
    datetime(2021, 1, 1, 0, 0, 1, tzinfo=UTC),
    None,  # the server's own arrival time
]


@pytest.fixture
def mailbox(dovecot_server: Dovecot, imap_account: ImapAccount) -> Iterator[ImapMailbox]:
    """The adapter on a folder with BODIES, logged in and selected."""
    dovecot_server.append_many(imap_account.user, list(zip(BODIES, DATES, strict=True)))
    box = ImapMailbox(
        host=imap_account.host,
        port=imap_account.port,
        security="none",
        username=imap_account.user,
        password=imap_account.password,
        timeout=10,
    )
    box.select("INBOX")
    yield box
    box.close()


def test_dates_sizes_and_bytes_are_read_as_imapclient_reads_them(
    mailbox: ImapMailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Dovecot's answers are read without imapclient's parser, and give what imapclient gives (in UTC)."""
    uids = mailbox.list_uids()
    reference = mailbox.client.fetch(uids, ["INTERNALDATE", "RFC822.SIZE", "BODY.PEEK[]"])

    def not_used(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("imapclient's parser was used")

    monkeypatch.setattr(mailbox.client, "fetch", not_used)
    metas = {m.uid: m for m in mailbox.fetch_meta(uids)}
    bodies = mailbox.fetch_bodies(uids)

    assert sorted(metas) == sorted(bodies) == uids
    for uid in uids:
        assert metas[uid].internaldate == reference[uid][b"INTERNALDATE"]
        assert metas[uid].internaldate.tzinfo is UTC
        assert metas[uid].size == reference[uid][b"RFC822.SIZE"]
        assert bodies[uid] == reference[uid][b"BODY[]"]
    assert [bodies[uid] for uid in uids] == BODIES
    assert [metas[uid].internaldate for uid in uids[:3]] == [d.astimezone(UTC) for d in DATES[:3] if d]


def test_an_unexpected_answer_is_read_by_imapclient(
    mailbox: ImapMailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An answer the adapter's reader doesn't expect (a literal without BODY[]) goes to imapclient instead."""
    uids = mailbox.list_uids()
    monkeypatch.setattr(mailbox, "_fetch_raw", lambda *_args: [(b"1 (UID 1 RFC822 {1}", b"x"), b")"])
    assert [m.uid for m in mailbox.fetch_meta(uids)] == uids
    assert list(mailbox.fetch_bodies(uids).values()) == BODIES


def test_a_uid_after_the_literal_and_answers_for_other_messages() -> None:
    """A UID after BODY[] (some servers put it there) is read; answers for other UIDs are dropped."""
    data: list[object] = [(b"1 (BODY[] {3}", b"abc"), b" UID 7)", (b"2 (UID 8 BODY[] {2}", b"de"), b")"]
    assert responses.read_bodies(data, {7}) == {7: b"abc"}
    lines: list[object] = [
        b'1 (UID 7 INTERNALDATE " 5-Sep-2020 08:00:00 +0200" RFC822.SIZE 12)',
        b'2 (UID 9 INTERNALDATE "05-sep-2020 08:00:00 -0130" RFC822.SIZE 3)',
    ]
    metas = responses.read_metas(lines, {7, 9})
    assert metas is not None
    assert [(m.uid, m.internaldate, m.size) for m in metas] == [
        (7, datetime(2020, 9, 5, 6, 0, tzinfo=UTC), 12),
        (9, datetime(2020, 9, 5, 9, 30, tzinfo=UTC), 3),
    ]
    assert [m.uid for m in responses.read_metas(lines, {9}) or []] == [9]


@pytest.mark.parametrize(
    "data",
    [
        pytest.param([b"1 (UID 7 BODY[] NIL)"], id="body-nil"),
        pytest.param([(b"1 (BODY[] {3}", b"abc"), b")"], id="no-uid"),
        pytest.param([(b"1 (UID 7 BODY[] {3}", b"abc"), (b"2 (UID 8 BODY[] {1}", 5)], id="not-bytes"),
    ],
)
def test_unexpected_body_answers_are_left_to_imapclient(data: list[object]) -> None:
    """A body answer that isn't (line, literal) pairs with a UID each is not guessed at."""
    assert responses.read_bodies(data, {7, 8}) is None


@pytest.mark.parametrize(
    "line",
    [
        pytest.param(b"1 (UID 7 FLAGS (\\Seen))", id="flags-only"),
        pytest.param(b'1 (UID 7 INTERNALDATE "05-Foo-2020 08:00:00 +0000" RFC822.SIZE 1)', id="month"),
        pytest.param(b'1 (UID 7 INTERNALDATE "31-Feb-2020 08:00:00 +0000" RFC822.SIZE 1)', id="no-such-day"),
        pytest.param(b'1 (INTERNALDATE "05-Sep-2020 08:00:00 +0000" RFC822.SIZE 1)', id="no-uid"),
    ],
)
def test_unexpected_meta_answers_are_left_to_imapclient(line: bytes) -> None:
    """A date-and-size answer missing an item, or with a date that isn't one, is not guessed at."""
    assert responses.read_metas([line], {7}) is None


def test_uids_are_asked_for_as_ranges() -> None:
    """Consecutive UIDs go to the server as ranges, in any order given."""
    assert responses.sequence_set([8, 1, 2, 3, 5, 7]) == "1:3,5,7:8"
    assert responses.sequence_set([4]) == "4"
