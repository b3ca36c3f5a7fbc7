"""`[smtp] max_per_minute` against a real SMTP server: replies in arrival order at that pace, a throttling
answer slows the pace instead of failing the reply, `status` shows the queue and when the last goes out."""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from mailbot.adapters.db import OutboxRow
from mailbot.bootstrap import build_desk, open_database
from mailbot.cli.render import render_table
from mailbot.config import Config, parse_config
from mailbot.demo.servers import SmtpSink, free_port
from mailbot.service import Desk
from mailbot.service.reports import status_text
from tests.conftest import config_data
from tests.integration.test_robustness import registration
from tests.servers import Dovecot, ImapAccount

T0 = datetime(2020, 9, 21, 8, 0, tzinfo=UTC)


class ThrottlingServer:
    """An aiosmtpd server that notes when each mail arrived and answers one chosen command once with a
    throttling reply (as Exchange Online does)."""

    def __init__(self, throttle: tuple[str, int, str] | None = None) -> None:
        self.throttle = throttle  # (command "RCPT" | "DATA", at the n-th such command (1-based), reply)
        self.seen = {"RCPT": 0, "DATA": 0}
        self.received: list[tuple[float, str]] = []  # (monotonic time, recipient)
        self.lock = threading.Lock()
        self.host, self.port = "127.0.0.1", free_port("127.0.0.1")
        self.controller = Controller(self, hostname=self.host, port=self.port, ready_timeout=10)

    def _throttled(self, command: str) -> str | None:
        with self.lock:
            self.seen[command] += 1
            if self.throttle and self.throttle[0] == command and self.throttle[1] == self.seen[command]:
                return self.throttle[2]
        return None

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:  # noqa: ARG002 (aiosmtpd hook)
        """Take the recipient, unless this is the command to throttle."""
        reply = self._throttled("RCPT")
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: ARG002 (aiosmtpd hook)
        """Keep the mail with its time of arrival, unless this is the command to throttle."""
        reply = self._throttled("DATA")
        if reply:
            return reply
        with self.lock:
            self.received.append((time.monotonic(), envelope.rcpt_tos[0]))
        return "250 OK"

    def recipients(self) -> list[str]:
        """Who got a mail, in the order they arrived."""
        with self.lock:
            return [rcpt for _, rcpt in self.received]


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[ThrottlingServer]:
    """A started ThrottlingServer (the test's parameter says which command to throttle, if any)."""
    smtp = ThrottlingServer(getattr(request, "param", None))
    smtp.controller.start()
    yield smtp
    smtp.controller.stop()


def paced_desk(
    account: ImapAccount, smtp: ThrottlingServer, tmp_path: Path, per_minute: int, poll_interval: float = 30
) -> tuple[Desk, Config]:
    """The desk in this process on SQLite, sending to `smtp` at `per_minute`; by default a long poll
    interval, so a flush may wait for every slot."""
    sink = SmtpSink(smtp.host, smtp.port)  # only its address is used: config_data takes a sink
    data = config_data(account, sink, f"sqlite:///{tmp_path / 'mailbot.db'}")
    data["smtp"]["max_per_minute"] = per_minute  # type: ignore[index]
    data["bot"]["poll_interval"] = poll_interval  # type: ignore[index]
    config = parse_config(data, "<test>", env={})
    return build_desk(config, db=open_database(config)), config


def arrive(dovecot: Dovecot, account: ImapAccount, count: int) -> list[str]:
    """`count` registrations from person0 ... in this order of arrival; their addresses."""
    dovecot.append_many(account.user, [(registration(n), T0 + timedelta(minutes=n)) for n in range(count)])
    return [f"person{n}@example.org" for n in range(count)]


def test_replies_go_out_in_arrival_order_at_max_per_minute(
    dovecot_server: Dovecot, imap_account: ImapAccount, server: ThrottlingServer, tmp_path: Path
) -> None:
    """At 600 per minute, 8 replies go out in arrival order, at least ~0.1 s apart on average."""
    expected = arrive(dovecot_server, imap_account, 8)
    desk, _ = paced_desk(imap_account, server, tmp_path, 600)
    try:
        _, flush = desk.run_once()
    finally:
        desk.db.dispose()
    assert (flush.sent, flush.failed, flush.deferred, flush.throttled) == (8, 0, 0, 0)
    assert server.recipients() == expected
    times = [when for when, _ in server.received]
    assert times[-1] - times[0] >= 7 * 0.1 * 0.8  # seven intervals of 0.1 s (a little jitter allowed)


@pytest.mark.parametrize(
    "server",
    [
        ("RCPT", 3, "432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded"),
        ("DATA", 2, "421 4.7.0 Temporary server error. Please try again later. PRX4"),
    ],
    indirect=True,
    ids=["432-at-rcpt", "421-at-data"],
)
def test_a_throttling_answer_slows_the_pace_and_fails_nothing(
    dovecot_server: Dovecot, imap_account: ImapAccount, server: ThrottlingServer, tmp_path: Path
) -> None:
    """The throttled reply is sent again (first, one attempt in all, never failed), every reply arrives in
    arrival order, and the pace is slower afterwards."""
    expected = arrive(dovecot_server, imap_account, 6)
    desk, config = paced_desk(imap_account, server, tmp_path, 600)
    try:
        _, flush = desk.run_once()
        with desk.db.transaction() as tx:
            rows = select(OutboxRow.attempts, OutboxRow.failed_at, OutboxRow.sent_at)
            outbox = tx.session.execute(rows).all()
        status = " ".join(status_text(desk.db, config, render_table, color=False).split())  # long lines wrap
    finally:
        desk.db.dispose()
    assert (flush.sent, flush.failed, flush.deferred, flush.throttled) == (6, 0, 0, 1)
    assert server.recipients() == expected
    assert all(attempts == 1 and failed is None and sent is not None for attempts, failed, sent in outbox)
    assert desk.pacer.rate < 600
    assert "replies queued: 0 (paced: at most 600 per minute)" in status


def test_status_shows_the_queue_and_when_the_last_reply_goes_out(
    dovecot_server: Dovecot, imap_account: ImapAccount, server: ThrottlingServer, tmp_path: Path
) -> None:
    """At 30 per minute with a 1 s poll interval a pass sends only the first replies; `status` shows the
    rest as queued and the last one about 2 s per reply away."""
    arrive(dovecot_server, imap_account, 20)
    desk, config = paced_desk(imap_account, server, tmp_path, 30, poll_interval=1)  # a flush waits <= 1 s
    try:
        _, flush = desk.run_once()
        status = " ".join(status_text(desk.db, config, render_table, color=False).split())  # long lines wrap
    finally:
        desk.db.dispose()
    queued = 20 - flush.sent
    assert 1 <= flush.sent <= 3
    line = re.search(r"replies queued: (\d+); the last goes out in about (\d+) s at 30 per minute", status)
    assert line is not None, status
    assert (int(line[1]), int(line[2])) == (queued, queued * 2)
    assert "[smtp] max_per_minute" in status


def test_a_pass_waits_one_poll_interval_for_its_turns_send_access_for_all(
    dovecot_server: Dovecot, imap_account: ImapAccount, server: ThrottlingServer, tmp_path: Path
) -> None:
    """At 600 per minute with a 0.5 s poll interval a pass sends only part of 20 replies (it keeps its
    schedule); a flush told to wait for every turn (what `send-access` does) sends the rest, in order."""
    expected = arrive(dovecot_server, imap_account, 20)
    desk, _ = paced_desk(imap_account, server, tmp_path, 600, poll_interval=0.5)
    try:
        _, first = desk.run_once()
        rest = desk.flush_outbox(wait=math.inf)
    finally:
        desk.db.dispose()
    assert 1 <= first.sent < 20
    assert (first.sent + rest.sent, rest.failed, rest.deferred) == (20, 0, 0)
    assert server.recipients() == expected
