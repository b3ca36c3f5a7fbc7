"""The pass never keeps an admin command out of the database: it commits at least every second (SQLite)."""

from __future__ import annotations

import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from mailbot.bootstrap import build_desk
from mailbot.config import load_config
from mailbot.core.bounce import BounceReport
from mailbot.core.model import RuleContext
from mailbot.demo.servers import SmtpSink
from mailbot.service import FlushReport, PassReport
from tests.conftest import config_data, toml_text
from tests.integration.test_desk import invoke, read_csv
from tests.integration.test_intents import mail
from tests.servers import Dovecot, ImapAccount

T0 = datetime(2020, 9, 21, 8, 0, tzinfo=UTC)
MAILS = 40
SLOW = 0.25  # seconds each mail spends in the bounce reader, inside the batch's transaction


def test_mailbot_add_gets_in_while_a_pass_decides_a_slow_batch(
    dovecot_server: Dovecot, imap_account: ImapAccount, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    """One batch of 40 out-of-office replies takes the pass 10 s to decide (0.25 s each in the bounce reader,
    which reads machine mail inside the transaction): `mailbot add` started meanwhile is done long before the
    pass is, and both the hotline's and the mails' rows are kept."""
    config_file = tmp_path / "config.toml"
    url = f"sqlite:///{tmp_path / 'mailbot.db'}"
    config_file.write_text(toml_text(config_data(imap_account, smtp_sink, url)), encoding="utf-8")
    dovecot_server.append_many(
        imap_account.user,
        [
            (mail(i, "Automatische Antwort: Digitalisierung 08.10."), T0 + timedelta(seconds=i))
            for i in range(MAILS)
        ],
    )
    desk = build_desk(load_config(config_file, {}))
    reading = threading.Event()
    calls: list[int] = []

    def slow_bounce_reader(raw: bytes, ctx: RuleContext) -> BounceReport | None:  # noqa: ARG001
        calls.append(1)
        reading.set()
        time.sleep(SLOW)
        return None

    desk.read_bounce = slow_bounce_reader
    results: list[tuple[PassReport, FlushReport]] = []
    run = threading.Thread(target=lambda: results.append(desk.run_once()))
    run.start()
    try:
        assert reading.wait(60), "the pass never reached the batch"
        code, out, err = invoke(  # its own connection, as from another process
            config_file, "add", "digitalisierung-2020", "--name", "Erna", "--phone", "02305 99"
        )
        decided_by_then = len(calls)
    finally:
        run.join(120)
    assert code == 0, err
    assert "Erna (registration #1" in out
    assert decided_by_then < MAILS  # the pass had mails left to decide when the hotline's row was written
    assert len(calls) == MAILS
    rows = read_csv(invoke(config_file, "export")[1].encode())
    assert [r["name"] for r in rows] == ["Erna"]  # the auto-replies are the machine's: no registration
    report, _ = results[0]
    assert sum(report.outcomes.values()) == MAILS  # every mail recorded, each in its own turn
    desk.db.dispose()


def test_mail_that_looks_like_a_bounce_is_read_before_the_write_lock_is_taken(
    dovecot_server: Dovecot, imap_account: ImapAccount, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    """The bounce reader (the email parser and flufl.bounce: ~1 s per MB) reads bounce-like mail while the
    database is free: another connection can take SQLite's write lock at once, every time."""
    config_file = tmp_path / "config.toml"
    path = tmp_path / "mailbot.db"
    config_file.write_text(
        toml_text(config_data(imap_account, smtp_sink, f"sqlite:///{path}")), encoding="utf-8"
    )
    dovecot_server.append_many(
        imap_account.user,
        [(mail(i, "Undeliverable: Digitalisierung 08.10."), T0 + timedelta(seconds=i)) for i in range(5)],
    )
    desk = build_desk(load_config(config_file, {}))
    free: list[bool] = []

    def probing_bounce_reader(raw: bytes, ctx: RuleContext) -> BounceReport | None:  # noqa: ARG001
        other = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
            free.append(True)
        except sqlite3.OperationalError:  # database is locked
            free.append(False)
        finally:
            other.close()
        return None

    desk.read_bounce = probing_bounce_reader
    report, _ = desk.run_once()
    assert report.outcomes == {"machine": 5}
    assert free == [True] * 5
    desk.db.dispose()
