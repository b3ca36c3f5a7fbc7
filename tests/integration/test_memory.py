"""A pass's memory is bounded by bytes: batches cut by size, decided mails let go (see bench/memory.py)."""

from __future__ import annotations

import tracemalloc
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from mailbot.bootstrap import build_desk, open_database
from mailbot.config import parse_config
from mailbot.core import keyword
from mailbot.core.parse import parse_message
from mailbot.demo.servers import SmtpSink
from mailbot.ports import Mailbox, MessageMeta, batched_by_bytes
from tests.conftest import config_data
from tests.integration.test_robustness import registration
from tests.servers import Dovecot, ImapAccount

T0 = datetime(2020, 9, 21, 8, 0, tzinfo=UTC)
MB = 1_000_000


def _metas(*sizes: int) -> list[MessageMeta]:
    return [MessageMeta(uid=n, internaldate=T0, size=size) for n, size in enumerate(sizes, start=1)]


def test_batches_are_cut_by_bytes_as_well_as_by_count() -> None:
    """Bodies of a batch add up to the budget at most; a mail above the budget is read alone; mails above
    max_message_bytes (never fetched) weigh nothing; and the count limit still holds."""
    metas = _metas(4, 4, 4, 9, 1, 20, 1, 1, 1, 1, 1)

    def uids(batches: Sequence[Sequence[MessageMeta]]) -> list[list[int]]:
        return [[m.uid for m in batch] for batch in batches]

    assert uids(list(batched_by_bytes(metas, count=3, budget=10, limit=15))) == [
        [1, 2],
        [3],
        [4, 5, 6],  # 6 is over the limit: not fetched, weighs nothing
        [7, 8, 9],  # the count
        [10, 11],
    ]
    assert uids(list(batched_by_bytes(metas, count=100, budget=8, limit=100))) == [
        [1, 2],
        [3],
        [4],
        [5],
        [6],
        [7, 8, 9, 10, 11],
    ]
    assert list(batched_by_bytes([], count=3, budget=10, limit=15)) == []


def test_the_pass_reads_bodies_in_batches_cut_by_batch_bytes(
    dovecot_server: Dovecot, imap_account: ImapAccount, smtp_sink: SmtpSink, db_url: str
) -> None:
    """With `[bot] batch_bytes` the pass fetches at most that many bytes at once, and books every mail."""
    dovecot_server.append_many(
        imap_account.user,
        [(registration(i, size=300_000), T0 + timedelta(seconds=i)) for i in range(7)],
    )
    config = parse_config(config_data(imap_account, smtp_sink, db_url, batch_bytes=700_000), "<test>", env={})
    desk = build_desk(config, db=open_database(config))
    real_factory = desk.mailbox_factory
    fetched: list[int] = []

    def watched_mailbox() -> Mailbox:
        mailbox = real_factory()
        real_fetch = mailbox.fetch_bodies

        def fetch_bodies(uids: Sequence[int]) -> dict[int, bytes]:
            bodies = real_fetch(uids)
            fetched.append(sum(len(b) for b in bodies.values()))
            return bodies

        mailbox.fetch_bodies = fetch_bodies  # type: ignore[method-assign]
        return mailbox

    desk.mailbox_factory = watched_mailbox
    try:
        report = desk.poll_once()
    finally:
        desk.db.dispose()

    assert report.outcomes == {"registered": 7}
    assert len(fetched) == 4  # 2 + 2 + 2 + 1 mails of ~300 kB
    assert max(fetched) <= 700_000


def test_a_pass_over_many_large_mails_holds_about_one_batch_in_memory(
    dovecot_server: Dovecot, imap_account: ImapAccount, smtp_sink: SmtpSink, db_url: str
) -> None:
    """12 mails of 1 MB with `batch_bytes` of 2 MB: the pass's peak of Python memory stays near one
    batch's worth (bodies, parses, one mail's passing copies), not all mails' at once; and nothing of the
    mails is left once the pass is over (no cache keeps their text)."""
    dovecot_server.append_many(
        imap_account.user,
        [(registration(i, size=MB), T0 + timedelta(seconds=i)) for i in range(12)],
    )
    config = parse_config(config_data(imap_account, smtp_sink, db_url, batch_bytes=2 * MB), "<test>", env={})
    desk = build_desk(config, db=open_database(config))
    try:
        desk.poll_once()  # modules and caches of a first pass are not what is measured
        dovecot_server.append_many(
            imap_account.user,
            [(registration(i, size=MB), T0 + timedelta(seconds=i)) for i in range(12, 24)],
        )
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            report = desk.poll_once()
            after, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    finally:
        desk.db.dispose()

    assert report.outcomes == {"registered": 12}
    # Measured: ~18 MB (a parse takes ~10 times its mail for a moment); all 12 at once: ~62 MB.
    assert peak - before < 30 * MB
    assert after - before < 2 * MB


def test_texts_of_long_mails_are_not_kept_by_the_keyword_caches() -> None:
    """own_text/first_lines cache short texts only: 20 distinct 1 MB texts leave (almost) nothing behind."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for n in range(20):
            text = f"Anmeldung {n}\n" + "Viele Grüße aus der Stadt\n" * 40_000
            assert keyword.first_lines(text).startswith(f"Anmeldung {n}")
            assert keyword.own_text(text).startswith(f"Anmeldung {n}")
            del text
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert after - before < 1 * MB


def test_long_content_type_values_are_not_kept_by_the_charset_cache() -> None:
    """The charset cache keeps the usual short Content-Type values only: 250 mails with a distinct 10 kB
    value each leave (almost) nothing behind."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for n in range(250):
            content_type = f'text/plain; charset=utf-8; x-filler="{n}{"x" * 10_000}"'
            raw = f"From: a@example.org\r\nContent-Type: {content_type}\r\n\r\nHallo\r\n".encode()
            assert parse_message(raw).text == "Hallo\n"
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert after - before < 1 * MB
