"""The sending process of `mailbot run` (mailbot.sender): it sends beside the pass and never outlives it."""

from __future__ import annotations

import os
import signal
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mailbot.bootstrap import build_desk, sending_desk
from mailbot.config import load_config
from mailbot.demo.servers import SmtpSink
from mailbot.sender import SenderError, SenderProcess
from mailbot.service import FlushReport
from tests.conftest import config_data, toml_text
from tests.integration.test_crash import mailbot, registration, wait_until
from tests.servers import Dovecot, ImapAccount

START = datetime(2020, 9, 21, 8, 0, tzinfo=UTC)


def senders_of(pid: int) -> list[int]:
    """PIDs of the sending processes whose parent is `pid` (multiprocessing children)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == pid and b"--multiprocessing-fork" in cmdline:  # not the resource tracker
            found.append(int(entry.name))
    return found


def state(pid: int) -> str:
    """The process's state letter (R, S, T stopped, Z zombie, ...); "" when it is gone."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return ""


def alive(pid: int) -> bool:
    """Whether the process exists and is not a zombie."""
    return state(pid) not in ("", "Z")


def write(tmp_path: Path, account: ImapAccount, sink: SmtpSink, url: str, **smtp: object) -> Path:
    """A config for `mailbot run` against the test servers (polling every 0.2 s)."""
    data = config_data(account, sink, url, poll_interval=0.2)
    for key, value in smtp.items():
        data["smtp"][key] = value  # type: ignore[index]
    path = tmp_path / "config.toml"
    path.write_text(toml_text(data), encoding="utf-8")
    return path


def test_run_sends_from_its_sending_process_which_dies_with_it(
    dovecot_server: Dovecot, imap_account: ImapAccount, smtp_sink: SmtpSink, db_url: str, tmp_path: Path
) -> None:
    """`mailbot run` has one sending process; replies flow; SIGKILL of the bot takes the sender with it."""
    config = write(tmp_path, imap_account, smtp_sink, db_url)
    log = tmp_path / "run.log"
    proc = mailbot(config, log, "run")
    try:
        assert wait_until(lambda: len(senders_of(proc.pid)) == 1, 30), log.read_text()
        (child,) = senders_of(proc.pid)
        dovecot_server.append_many(imap_account.user, [(registration(n), START) for n in range(3)])
        assert wait_until(lambda: len(smtp_sink.messages) == 3, 30), log.read_text()
        assert senders_of(proc.pid) == [child]  # the same process served both passes
        os.kill(child, signal.SIGSTOP)  # even one that can't read its pipe's end (busy, or stopped) ...
        assert wait_until(lambda: state(child) == "T", 5)
    finally:
        proc.kill()
        proc.wait()
    assert wait_until(lambda: not alive(child), 5), "the sending process outlived the killed bot"  # ... dies


def test_a_killed_bot_ends_its_running_sending_process_at_once(
    imap_account: ImapAccount, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    """SIGKILL of the bot: its sending process, running and reading its pipe, meets EOF there and ends."""
    config = write(tmp_path, imap_account, smtp_sink, f"sqlite:///{tmp_path / 'm.db'}")
    log = tmp_path / "run.log"
    proc = mailbot(config, log, "run")
    try:
        assert wait_until(lambda: "mailbot running" in log.read_text(), 30), log.read_text()
        (child,) = senders_of(proc.pid)
        assert state(child) in ("R", "S")  # not stopped: nothing but its pipe's EOF tells it
    finally:
        proc.kill()
        proc.wait()
    assert wait_until(lambda: not alive(child), 5), "the sending process outlived the killed bot"


def test_sigterm_ends_the_sending_process_too(
    imap_account: ImapAccount, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    """SIGTERM: the bot exits 0 and its sending process ends with it (no orphan left sending)."""
    config = write(tmp_path, imap_account, smtp_sink, f"sqlite:///{tmp_path / 'm.db'}")
    log = tmp_path / "run.log"
    proc = mailbot(config, log, "run")
    assert wait_until(lambda: "mailbot running" in log.read_text(), 30), log.read_text()
    assert wait_until(lambda: len(senders_of(proc.pid)) == 1, 30), log.read_text()
    (child,) = senders_of(proc.pid)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0, log.read_text()
    assert wait_until(lambda: not alive(child), 5)


def test_without_the_sending_process_the_pass_sends_itself(
    dovecot_server: Dovecot, imap_account: ImapAccount, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    """`[smtp] sender_process = false`: no child process, and every reply still goes out."""
    config = write(tmp_path, imap_account, smtp_sink, f"sqlite:///{tmp_path / 'm.db'}", sender_process=False)
    log = tmp_path / "run.log"
    dovecot_server.append_many(imap_account.user, [(registration(n), START) for n in range(3)])
    proc = mailbot(config, log, "run")
    try:
        assert wait_until(lambda: len(smtp_sink.messages) == 3, 30), log.read_text()
        assert senders_of(proc.pid) == []
    finally:
        proc.kill()
        proc.wait()


def test_a_dead_sending_process_is_restarted_and_one_killed_mid_pass_fails_the_pass(
    dovecot_server: Dovecot, imap_account: ImapAccount, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    """Killed between passes, the child is started again; killed while the pass waits, the pass fails."""
    path = write(tmp_path, imap_account, smtp_sink, f"sqlite:///{tmp_path / 'm.db'}")
    config = load_config(path, {})
    desk = build_desk(config)  # migrates the database, as `mailbot run` does before it starts the child
    dovecot_server.append_many(imap_account.user, [(registration(n), START) for n in range(2)])
    desk.poll_once()
    sender = SenderProcess(
        config, build=sending_desk, new_report=FlushReport, verbose=False, stop=threading.Event()
    ).start()
    try:
        assert sender.finish(leader=True).sent == 2
        (child,) = senders_of(os.getpid())
        os.kill(child, signal.SIGKILL)
        assert wait_until(lambda: not alive(child), 5)
        assert wait_until(lambda: os.waitid(os.P_PID, child, os.WEXITED | os.WNOWAIT | os.WNOHANG), 5)
        assert sender.finish(leader=True).sent == 0  # a new child answered
        (again,) = senders_of(os.getpid())
        assert again != child

        os.kill(again, signal.SIGSTOP)  # hangs: the answer never comes ...
        threading.Timer(0.5, os.kill, (again, signal.SIGKILL)).start()  # ... then it dies
        with pytest.raises(SenderError, match="ended unexpectedly"):
            sender.finish(leader=True)
    finally:
        sender.close()
        desk.db.dispose()
    assert len(smtp_sink.messages) == 2


def test_run_replaces_a_killed_sending_process_and_answers_on(
    dovecot_server: Dovecot, imap_account: ImapAccount, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    """The sending process of `mailbot run` killed from outside: a new one answers the next mails."""
    config = write(tmp_path, imap_account, smtp_sink, f"sqlite:///{tmp_path / 'm.db'}")
    log = tmp_path / "run.log"
    proc = mailbot(config, log, "run")
    try:
        assert wait_until(lambda: len(senders_of(proc.pid)) == 1, 30), log.read_text()
        (child,) = senders_of(proc.pid)
        os.kill(child, signal.SIGKILL)
        dovecot_server.append_many(imap_account.user, [(registration(n), START) for n in range(3)])
        assert wait_until(lambda: len(smtp_sink.messages) == 3, 30), log.read_text()
        assert len(senders_of(proc.pid)) == 1
        assert senders_of(proc.pid) != [child]
    finally:
        proc.kill()
        proc.wait()


def test_after_a_stop_signal_the_sending_process_sends_nothing_more(
    dovecot_server: Dovecot, imap_account: ImapAccount, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    """A stop signal before the pass's last flush: the child answers at once and sends nothing (the replies
    wait in the outbox for the next run), as the pass's own thread would."""
    path = write(tmp_path, imap_account, smtp_sink, f"sqlite:///{tmp_path / 'm.db'}")
    config = load_config(path, {})
    desk = build_desk(config)
    stop = threading.Event()
    sender = SenderProcess(
        config, build=sending_desk, new_report=FlushReport, verbose=False, stop=stop
    ).start()
    try:
        assert sender.finish(leader=True).sent == 0  # nothing due yet: the child is up and waiting
        dovecot_server.append_many(imap_account.user, [(registration(n), START) for n in range(2)])
        desk.poll_once()
        stop.set()
        assert sender.finish(leader=True).sent == 0
    finally:
        sender.close()
    assert smtp_sink.messages == []
    with desk.db.transaction() as tx:
        assert tx.pending_replies() == 2
    desk.db.dispose()
