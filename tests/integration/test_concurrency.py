"""Two desks at once: the leader lock lets one run, and the unique constraints hold even without it."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from mailbot.bootstrap import build_desk, open_database
from mailbot.config import load_config
from mailbot.demo.servers import SmtpSink
from mailbot.ports import Mailbox
from tests.integration.test_desk import invoke, read_csv
from tests.integration.test_intents import mail
from tests.servers import Dovecot, ImapAccount

T0 = datetime(2020, 9, 21, 8, 0, tzinfo=UTC)


def test_leader_lock_admits_one_process_at_a_time(config_file: Path) -> None:
    """While one desk holds the leader lock, a second one's pass is skipped; afterwards it may run."""
    config = load_config(config_file, {})
    first, second = open_database(config), open_database(config)
    with first.leader() as got:
        assert got
        with second.leader() as other:
            assert not other
    with second.leader() as again:
        assert again
    first.dispose()
    second.dispose()


def test_without_the_lock_the_constraints_still_prevent_double_booking(
    dovecot_server: Dovecot, imap_account: ImapAccount, smtp_sink: SmtpSink, config_file: Path
) -> None:
    """Two desks racing over one mailbox without the lock: each mail booked once, seats never doubled."""
    config_file.write_text(config_file.read_text().replace("capacity = 75", "capacity = 10"))
    dovecot_server.append_many(
        imap_account.user,
        [(mail(i, "Digitalisierung 08.10."), T0 + timedelta(seconds=i)) for i in range(30)],
    )
    config = load_config(config_file, {})
    desks = [build_desk(config) for _ in range(2)]
    for desk in desks:
        desk.use_leader_lock = False
    errors: list[BaseException] = []

    def run(desk: object) -> None:
        try:
            desk.run_once()  # type: ignore[attr-defined]
        except BaseException as exc:  # noqa: BLE001 (collected and asserted below)
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(d,)) for d in desks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    rows = read_csv(invoke(config_file, "export")[1].encode())
    assert [r["email"] for r in rows] == [f"person{i}@example.org" for i in range(30)]  # arrival order
    assert [r["arrival_no"] for r in rows] == [str(i) for i in range(1, 31)]
    assert [r["status"] for r in rows].count("confirmed") == 10
    recipients = [m.rcpt_tos[0] for m in smtp_sink.messages]
    assert sorted(recipients) == sorted(set(recipients))  # nobody answered twice
    assert len(recipients) == 30


def test_a_mail_recorded_elsewhere_mid_pass_voids_only_itself_when_the_batch_is_written(
    dovecot_server: Dovecot, imap_account: ImapAccount, smtp_sink: SmtpSink, config_file: Path
) -> None:
    """Another process records a mail after the pass listed it: the batch's rows, written together, hit
    the ledger's unique key; the batch is decided again mail by mail, that mail skipped, the rest booked."""
    dovecot_server.append_many(
        imap_account.user,
        [(mail(i, "Digitalisierung 08.10."), T0 + timedelta(seconds=i)) for i in range(5)],
    )
    config = load_config(config_file, {})
    desk, other = build_desk(config), build_desk(config)
    factory = desk.mailbox_factory
    raced: list[bool] = []

    def mailbox() -> Mailbox:
        box = factory()
        fetch = box.fetch_bodies

        def fetch_and_race(uids: Sequence[int]) -> dict[int, bytes]:
            bodies = fetch(uids)
            if raced:
                return bodies  # the pass reads the batch again to decide it mail by mail
            raced.append(True)
            with other.db.transaction() as tx:  # the other process records the third mail first
                tx.add_ledger(
                    folder="INBOX",
                    uidvalidity=box.select("INBOX").uidvalidity,
                    uid=sorted(uids)[2],
                    message_id=None,
                    internaldate=T0,
                    size=1,
                    outcome="registered",
                    reason="recorded by another process",
                    rule_hits=(),
                    sender=None,
                    subject=None,
                    now=T0,
                )
            return bodies

        box.fetch_bodies = fetch_and_race  # type: ignore[method-assign]
        return box

    desk.mailbox_factory = mailbox
    report, flush = desk.run_once()
    assert report.outcomes == {"registered": 4}
    assert flush.sent == 4
    assert sorted(m.rcpt_tos[0] for m in smtp_sink.messages) == [
        f"person{n}@example.org" for n in (0, 1, 3, 4)
    ]
    rows = read_csv(invoke(config_file, "export")[1].encode())
    assert [r["email"] for r in rows] == [f"person{n}@example.org" for n in (0, 1, 3, 4)]
    desk.db.dispose()
    other.db.dispose()
