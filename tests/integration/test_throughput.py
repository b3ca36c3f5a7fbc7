"""The rush path: batches decided in one transaction, replies sent per batch, several SMTP connections."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from mailbot import service
from mailbot.adapters.db import Database, OutboxRow
from mailbot.adapters.db.migrate import migrate
from mailbot.adapters.smtp import SmtpMailer
from mailbot.bootstrap import build_desk, open_database
from mailbot.config import parse_config
from mailbot.core import replies
from mailbot.core.model import Status
from mailbot.demo.servers import SmtpSink, free_port
from mailbot.errors import TemporaryDeliveryError
from mailbot.ports import DeliveryResult, Mailbox, OutgoingMail
from mailbot.service import outbox
from tests.conftest import config_data
from tests.core.test_replies import EVENT
from tests.integration.test_desk import invoke, read_csv
from tests.integration.test_robustness import registration
from tests.proxy import Proxy
from tests.servers import Dovecot, ImapAccount

T0 = datetime(2020, 9, 21, 8, 0, tzinfo=UTC)


def test_a_failed_mail_mid_batch_leaves_the_seat_count_exact(
    dovecot_server: Dovecot, imap_account: ImapAccount, config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mail rolled back after its seat was taken frees the seat again for the next mail of the batch."""
    real = replies.build_reply

    def failing_for_person1(**kwargs: object) -> object:
        recipient = kwargs["recipient"]
        if getattr(recipient, "address", "") == "person1@example.org":
            raise RuntimeError("template broken")  # after the registration row was written
        return real(**kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(replies, "build_reply", failing_for_person1)
    config = config_file
    text = config.read_text(encoding="utf-8")
    assert "capacity = 75" in text
    config.write_text(text.replace("capacity = 75", "capacity = 2"), encoding="utf-8")
    dovecot_server.append_many(
        imap_account.user, [(registration(i), T0 + timedelta(minutes=i)) for i in range(3)]
    )

    code, out, err = invoke(config, "run", "--once")

    assert code == 0, err
    assert '"quarantined": 1' in out
    code, csv_text, err = invoke(config, "export")
    assert code == 0, err
    rows = {r["email"]: r["status"] for r in read_csv(csv_text.encode("utf-8"))}
    assert rows == {"person0@example.org": "confirmed", "person2@example.org": "confirmed"}


def test_replies_of_a_batch_go_out_before_the_next_batch_is_read(
    dovecot_server: Dovecot, imap_account: ImapAccount, smtp_sink: SmtpSink, db_url: str
) -> None:
    """In a rush the first citizens are answered while later mails still wait to be read."""
    count = 2 * service.BODY_BATCH + 10
    dovecot_server.append_many(
        imap_account.user, [(registration(i), T0 + timedelta(seconds=i)) for i in range(count)]
    )
    config = parse_config(config_data(imap_account, smtp_sink, db_url), "<test>", env={})
    desk = build_desk(config, db=open_database(config))
    real_factory = desk.mailbox_factory
    sent_before_fetch: list[int] = []

    def watched_mailbox() -> Mailbox:
        mailbox = real_factory()
        real_fetch = mailbox.fetch_bodies

        def fetch_bodies(uids: list[int]) -> dict[int, bytes]:
            sent_before_fetch.append(len(smtp_sink.messages))
            return real_fetch(uids)

        mailbox.fetch_bodies = fetch_bodies  # type: ignore[method-assign]
        return mailbox

    desk.mailbox_factory = watched_mailbox
    try:
        report, flush = desk.run_once()
    finally:
        desk.db.dispose()

    assert report.total == count
    assert flush.sent == count
    assert sent_before_fetch == [0, service.BODY_BATCH, 2 * service.BODY_BATCH]
    assert len(smtp_sink.messages) == count


def _mails(count: int) -> list[OutgoingMail]:
    return [
        OutgoingMail(
            number,
            "desk@example.org",
            f"person{number}@example.org",
            f"Message-ID: <m{number}@example.org>\r\nSubject: test\r\n\r\nHallo\r\n".encode(),
        )
        for number in range(count)
    ]


def _mailer(proxy: Proxy, *, connections: int) -> SmtpMailer:
    return SmtpMailer(
        host=proxy.host,
        port=proxy.port,
        security="none",
        username=None,
        password=None,
        timeout=10,
        connections=connections,
    )


def test_several_smtp_connections_send_each_mail_once(smtp_sink: SmtpSink) -> None:
    """With connections = 3 three connections share the mails; each is sent exactly once."""
    results: list[DeliveryResult] = []
    with Proxy(smtp_sink.host, smtp_sink.port) as proxy:
        _mailer(proxy, connections=3).send_all(_mails(30), results.append)
        assert proxy.accepted == 3
    assert sorted(r.outbox_id for r in results) == list(range(30))
    assert all(r.accepted for r in results)
    assert sorted(m.rcpt_tos[0] for m in smtp_sink.messages) == sorted(
        f"person{n}@example.org" for n in range(30)
    )


@pytest.mark.parametrize(("count", "connections"), [(9, 1), (10, 1), (11, 2), (25, 3), (200, 4)])
def test_a_further_connection_opens_for_every_ten_mails(
    smtp_sink: SmtpSink, count: int, connections: int
) -> None:
    """`connections` = 4: one connection per ten mails, at most four; a few mails go out in queue order."""
    results: list[DeliveryResult] = []
    with Proxy(smtp_sink.host, smtp_sink.port) as proxy:
        _mailer(proxy, connections=4).send_all(_mails(count), results.append)
        assert proxy.accepted == connections
    assert sorted(r.outbox_id for r in results) == list(range(count))
    if connections == 1:
        assert [m.rcpt_tos[0] for m in smtp_sink.messages] == [f"person{n}@example.org" for n in range(count)]


def test_one_connection_is_used_for_a_single_mail(smtp_sink: SmtpSink) -> None:
    """Connections are not opened for nothing: one mail, one connection, whatever `connections` says."""
    results: list[DeliveryResult] = []
    with Proxy(smtp_sink.host, smtp_sink.port) as proxy:
        _mailer(proxy, connections=4).send_all(_mails(1), results.append)
        assert proxy.accepted == 1
    assert [r.accepted for r in results] == [True]


def test_a_long_backlog_keeps_the_desk_healthy(
    dovecot_server: Dovecot, imap_account: ImapAccount, smtp_sink: SmtpSink, db_url: str
) -> None:
    """Each committed batch counts as a successful poll, so `health` doesn't call a long rush stale."""
    dovecot_server.append_many(
        imap_account.user,
        [(registration(i), T0 + timedelta(seconds=i)) for i in range(service.BODY_BATCH + 10)],
    )
    config = parse_config(config_data(imap_account, smtp_sink, db_url), "<test>", env={})
    desk = build_desk(config, db=open_database(config))
    real_factory = desk.mailbox_factory
    seen: list[str | None] = []

    def watched_mailbox() -> Mailbox:
        mailbox = real_factory()
        real_fetch = mailbox.fetch_bodies

        def fetch_bodies(uids: list[int]) -> dict[int, bytes]:
            with desk.db.transaction() as tx:
                seen.append(tx.get_state(service.LAST_POLL))
            return real_fetch(uids)

        mailbox.fetch_bodies = fetch_bodies  # type: ignore[method-assign]
        return mailbox

    desk.mailbox_factory = watched_mailbox
    try:
        desk.run_once()
    finally:
        desk.db.dispose()

    assert len(seen) == 2
    assert seen[0] is None  # the very first pass: nothing polled before
    assert seen[1] is not None  # the first batch, committed, already counts


class _SlowSink:
    """An SMTP peer taking `delay` seconds per mail, like a throttling shared-hosting server."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.count = 0

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:  # noqa: ARG002
        await asyncio.sleep(self.delay)
        self.count += 1
        return "250 2.0.0 OK"


def test_a_slow_smtp_server_gets_batches_that_fit_in_the_lease(
    dovecot_server: Dovecot, imap_account: ImapAccount, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Replies are claimed in batches that go out within half the lease at the server's pace."""
    monkeypatch.setattr(outbox, "SEND_LEASE", timedelta(seconds=1))
    handler = _SlowSink(delay=0.05)  # 10 mails per half lease
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        sink = SmtpSink.__new__(SmtpSink)  # only its address is read by config_data
        sink.host, sink.port = "127.0.0.1", controller.port
        dovecot_server.append_many(
            imap_account.user, [(registration(i), T0 + timedelta(seconds=i)) for i in range(45)]
        )
        data = config_data(imap_account, sink, db_url)
        data["smtp"]["connections"] = 1  # type: ignore[index]
        config = parse_config(data, "<test>", env={})
        desk = build_desk(config, db=open_database(config))
        sizes: list[int] = []
        real_send_all = desk.mailer.send_all

        def send_all(mails: list[OutgoingMail], report: Callable[[DeliveryResult], None]) -> None:
            sizes.append(len(mails))
            real_send_all(mails, report)

        desk.mailer.send_all = send_all  # type: ignore[method-assign]
        try:
            _, flush = desk.run_once()
        finally:
            desk.db.dispose()
    finally:
        controller.stop()

    assert flush.sent == 45
    assert handler.count == 45
    assert sizes[0] == service.FIRST_SEND_BATCH
    assert len(sizes) > 1
    assert all(1 <= size <= 10 for size in sizes[1:]), sizes


def test_recording_an_accepted_reply_marks_it_once_and_notes_the_first_reply_time(db_url: str) -> None:
    """Database.mark_sent (one statement on PostgreSQL): sent_at, one attempt, the registration's first
    reply time; recording the same reply again changes nothing."""
    db = Database(db_url)
    migrate(db)
    first, later = datetime(2026, 10, 1, 9, 0, tzinfo=UTC), datetime(2026, 10, 1, 9, 5, tzinfo=UTC)
    with db.transaction() as tx:
        tx.sync_events([EVENT])
        registration_id = tx.add_registration(
            event_id=EVENT.id,
            position=1,
            status=Status.CONFIRMED,
            name="Anna",
            email="anna@example.org",
            email_normalized="anna@example.org",
            channel="email",
            received_at=first,
            ledger_id=None,
            message_id=None,
            now=first,
            actor="test",
        )
        outbox_id = tx.add_outbox(
            event_id=EVENT.id,
            registration_id=registration_id,
            ledger_id=None,
            kind="confirmed",
            envelope_from="desk@example.org",
            recipient="anna@example.org",
            recipient_normalized="anna@example.org",
            message_id="<r1@example.org>",
            data=b"Subject: x\r\n\r\nx\r\n",
            now=first,
        )
    db.mark_sent(outbox_id, first)
    db.mark_sent(outbox_id, later)
    with db.transaction() as tx:
        reply = tx.session.get(OutboxRow, outbox_id)
        registration = tx.registration(registration_id)
        assert reply is not None
        assert registration is not None
        assert (reply.sent_at, reply.attempts) == (first, 1)
        assert registration.replied_at == first
    db.dispose()


def test_a_refused_recipient_fails_alone_and_the_connection_goes_on(smtp_sink: SmtpSink) -> None:
    """A refused RCPT fails that reply alone (5xx for good, 4xx for later); the next ones still go out."""
    smtp_sink.refuse_recipient("person1@example.org", "550 5.1.1 no such user")
    smtp_sink.refuse_recipient("person2@example.org", "450 4.2.1 try again later")
    results: list[DeliveryResult] = []
    with Proxy(smtp_sink.host, smtp_sink.port) as proxy:
        _mailer(proxy, connections=1).send_all(_mails(4), results.append)
        assert proxy.accepted == 1
    by_id = {r.outbox_id: r for r in results}
    assert [by_id[n].accepted for n in range(4)] == [True, False, False, True]
    assert (by_id[1].permanent, by_id[1].error) == (True, "550 5.1.1 no such user")
    assert (by_id[2].permanent, by_id[2].error) == (False, "450 4.2.1 try again later")
    assert [m.rcpt_tos for m in smtp_sink.messages] == [("person0@example.org",), ("person3@example.org",)]


@pytest.mark.parametrize(
    ("answer", "permanent"), [("550 5.7.1 sender not allowed", True), ("451 4.3.0 later", False)]
)
def test_a_refused_sender_fails_each_reply_with_the_servers_answer(
    smtp_sink: SmtpSink, answer: str, permanent: bool
) -> None:
    """MAIL FROM refused: every reply fails with the server's answer, for good (5xx) or for later (4xx)."""
    smtp_sink.refuse_sender(answer)
    results: list[DeliveryResult] = []
    with Proxy(smtp_sink.host, smtp_sink.port) as proxy:
        _mailer(proxy, connections=1).send_all(_mails(3), results.append)
        assert [(r.accepted, r.permanent, r.error) for r in results] == [(False, permanent, answer)] * 3
        assert smtp_sink.messages == []
        smtp_sink.refuse_sender(None)
        _mailer(proxy, connections=1).send_all(_mails(1), results.append)
    assert results[-1].accepted


def test_a_server_silent_mid_transaction_ends_the_batch_after_the_timeout(smtp_sink: SmtpSink) -> None:
    """A server that stops answering between two mails: a temporary error after ~[smtp] timeout, no hang."""
    results: list[DeliveryResult] = []
    with Proxy(smtp_sink.host, smtp_sink.port) as proxy:

        def report(result: DeliveryResult) -> None:
            results.append(result)
            proxy.stall()  # the next command gets no answer

        mailer = SmtpMailer(
            host=proxy.host, port=proxy.port, security="none", username=None, password=None, timeout=1
        )
        started = time.monotonic()
        with pytest.raises(TemporaryDeliveryError, match=r"no answer within 1 s"):
            mailer.send_all(_mails(3), report)
        elapsed = time.monotonic() - started
    assert 1.0 <= elapsed < 3.0, elapsed
    assert [r.accepted for r in results] == [True]
