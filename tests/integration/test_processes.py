"""mailbot as real processes: two at once on one mailbox and database, the run loop and SIGTERM, the demo."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from mailbot.demo.corpus import build_corpus
from mailbot.demo.servers import SmtpSink
from tests.integration.test_desk import deliver, invoke, read_csv
from tests.servers import Dovecot, ImapAccount

REPO = Path(__file__).resolve().parents[2]


def mailbot(config: Path, *args: str) -> subprocess.Popen[str]:
    """Start `python -m mailbot --config CONFIG ARGS...` with its output captured."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-m", "mailbot", "--config", str(config), *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=config.parent,
    )


def test_two_processes_at_once_never_double_book_or_double_send(
    dovecot_server: Dovecot,
    imap_account: ImapAccount,
    smtp_sink: SmtpSink,
    config_file: Path,
) -> None:
    """Two `run --once` processes on one mailbox and database: each mail booked once, each reply sent once."""
    mails = build_corpus(registrations=40, repeats=2, unrelated=3, auto_replies=1)
    deliver(dovecot_server, imap_account, mails)
    text = config_file.read_text().replace("capacity = 75", "capacity = 30")
    config_file.write_text(text)

    procs = [mailbot(config_file, "run", "--once") for _ in range(2)]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err

    keyword_mails = [m for m in mails if m.kind in ("registration", "repeat")]
    assert len(smtp_sink.messages) == len(keyword_mails)
    recipients = [m.rcpt_tos[0].lower() for m in smtp_sink.messages]
    registrations = sorted((m for m in mails if m.kind == "registration"), key=lambda m: m.internaldate)
    assert sorted(set(recipients)) == sorted({m.sender.lower() for m in registrations})

    code, out, err = invoke(config_file, "export")
    assert code == 0, err
    rows = read_csv(out.encode("utf-8"))
    assert [r["arrival_no"] for r in rows] == [str(i) for i in range(1, 41)]
    assert [r["email"].lower() for r in rows] == [m.sender.lower() for m in registrations]
    assert [r["status"] for r in rows] == ["confirmed"] * 30 + ["waitlisted"] * 10


def test_run_loop_processes_mail_and_stops_cleanly_on_sigterm(
    dovecot_server: Dovecot,
    imap_account: ImapAccount,
    smtp_sink: SmtpSink,
    config_file: Path,
) -> None:
    """`mailbot run` answers mail that arrives while it runs, and exits 0 within 10 s of SIGTERM."""
    proc = mailbot(config_file, "run")
    try:
        deliver(
            dovecot_server,
            imap_account,
            build_corpus(registrations=3, repeats=0, unrelated=0, auto_replies=0),
        )
        deadline = time.monotonic() + 30
        while len(smtp_sink.messages) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(smtp_sink.messages) == 3
        proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        _, err = proc.communicate(timeout=15)
        assert time.monotonic() - started < 10
        assert proc.returncode == 0, err
        assert "mailbot stopped" in err
        assert "Traceback" not in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_demo_runs_from_any_directory(tmp_path: Path) -> None:
    """`mailbot demo` in an empty directory exits 0 and shows the status table, the CSV and one reply."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    keep = tmp_path / "demo"
    result = subprocess.run(
        [sys.executable, "-m", "mailbot", "demo", "--dir", str(keep)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    header = re.split(r" {2,}", next(line for line in lines if line.startswith("event ")))
    row = re.split(r" {2,}", next(line for line in lines if line.startswith("digitalisierung-2020 ")))
    seats = dict(zip(header, row, strict=True))
    assert (seats["seats"], seats["confirmed"], seats["free"]) == ("75", "75", "0")
    assert "X-Mailbot-Status: confirmed" in result.stdout
    rows = read_csv((keep / "registrations.csv").read_bytes())
    assert len(rows) == 90
    assert (keep / "registrations.csv").stat().st_mode & 0o777 == 0o600


def test_demo_dir_keeps_a_config_for_the_other_commands_and_counts_agree(tmp_path: Path) -> None:
    """`demo --dir`: the inbox summary equals the pass's counts; the written config serves status, triage,
    inspect, list on the demo's data; a second run starts afresh; a directory of a real desk is refused."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    keep = tmp_path / "demo"

    def demo() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "mailbot", "demo", "--dir", str(keep), "--messages", "30"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
            stdin=subprocess.DEVNULL,
            check=False,
        )

    for _ in range(
        2
    ):  # the second run replaces the first one's data instead of finding it "already processed"
        result = demo()
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        inbox = lines[lines.index(next(x for x in lines if x.startswith("inbox: "))) + 1]
        passed = next(x for x in lines if x.startswith("pass: "))
        expected = re.match(r"  (.*) \(machine: 2 out-of-office replies, 1 newsletter\)$", inbox)
        assert expected, inbox
        assert passed.startswith(f"pass: 30 messages: {expected.group(1)}; "), (inbox, passed)
        assert expected.group(1) == "registered 20, duplicate 3, machine 3, not-registration 4"

    config = keep / "config.toml"
    assert config.stat().st_mode & 0o777 == 0o600
    commands = [x.strip().split() for x in lines if x.startswith(f"  mailbot --config {config} ")]
    assert [c[3] for c in commands] == ["status", "triage", "inspect", "list", "history", "export"]
    for command in commands:
        code, _, err = invoke(config, *command[3:])
        assert code == 0, (command, err)
    assert "digitalisierung-2020" in invoke(config, "status")[1]
    assert "machine" in invoke(config, "triage")[1]
    inspect = next(c for c in commands if c[3] == "inspect")
    assert "outcome:   machine" in invoke(config, *inspect[3:])[1]
    assert "digitalisierung-2020: 20 registration(s)" in invoke(config, "list", "digitalisierung-2020")[1]

    other = tmp_path / "desk"
    other.mkdir()
    (other / "mailbot.db").write_bytes(b"")
    keep = other
    refused = demo()
    assert (refused.returncode, refused.stderr.strip().splitlines()[-1]) == (
        1,
        f"mailbot: demo: {other} has a mailbot.db or config.toml the demo did not write: use another --dir",
    )
    assert (other / "mailbot.db").read_bytes() == b""
