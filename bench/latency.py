"""Push delivery latency: mails arrive one by one at a steady rate; time from delivery to the reply at SMTP.

Usage: python bench/latency.py [--messages 100] [--rate 5] [--poll-interval 60] [--database sqlite|postgresql]

Starts a private Dovecot (and PostgreSQL) and an SMTP sink on loopback with the test fixtures' code, then the
real `mailbot run` as a process (IMAP IDLE on, polling every --poll-interval seconds as the safety net). Once
it waits in IDLE, APPENDs --messages registrations over one IMAP connection, --rate per second. For each mail:
delivery = its APPEND completed; reply = the sink accepted the reply to its sender (each mail has its own
sender). Prints p50, p95 and max of reply - delivery, and how many replies arrived. Not a test: it prints
figures.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from aiosmtpd.controller import Controller  # noqa: E402 (after the path setup)

from mailbot.demo.corpus import CorpusMail, build_corpus  # noqa: E402
from mailbot.demo.servers import free_port  # noqa: E402
from tests.conftest import config_data, toml_text  # noqa: E402
from tests.servers import Dovecot, Postgres  # noqa: E402

READY_LINE = "waiting for new mail with IMAP IDLE"


class TimedSink:
    """An aiosmtpd sink that notes when it accepted the first reply to each recipient.

    Its own handler rather than SmtpSink: the time is taken in the DATA handler, when the reply is accepted.
    """

    def __init__(self) -> None:
        self.host = "127.0.0.1"
        self.port = free_port(self.host)
        self.accepted: dict[str, float] = {}  # recipient (lower case) -> time.monotonic() of acceptance
        self.other = 0  # further mail to a recipient already answered
        self._lock = threading.Lock()
        self._controller = Controller(self, hostname=self.host, port=self.port, ready_timeout=10)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: ARG002 (aiosmtpd hook)
        now = time.monotonic()
        recipient = str(envelope.rcpt_tos[0]).lower()
        with self._lock:
            if recipient not in self.accepted:
                self.accepted[recipient] = now
            else:
                self.other += 1
        return "250 2.0.0 OK"

    def count(self) -> int:
        """Replies accepted so far."""
        with self._lock:
            return len(self.accepted)

    def __enter__(self) -> TimedSink:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()


class Bot:
    """`mailbot run` as a process; its stderr is drained by a thread and kept."""

    def __init__(self, config: Path) -> None:
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mailbot", "--config", str(config), "run"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            cwd=config.parent,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)

    def wait_for(self, text: str, timeout: float) -> None:
        """Until a stderr line contains `text`; exits with the log when the bot ends or takes too long."""
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"the bot did not log {text!r}:\n{''.join(self.lines)}")
            time.sleep(0.02)

    def stop(self) -> None:
        """SIGTERM and wait."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(5)


def cpu_model() -> str:
    """The CPU model from /proc/cpuinfo (Linux), else what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def percentile(values: list[float], p: int) -> float:
    """The p-th percentile (inclusive method: p50 is the median)."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


def deliver_steadily(dovecot: Dovecot, user: str, mails: list[CorpusMail], rate: float) -> dict[str, float]:
    """APPEND each mail on time (`rate` per second, one connection); sender -> when its APPEND completed."""
    client = dovecot.client(user)
    delivered: dict[str, float] = {}
    started = time.monotonic()
    for i, mail in enumerate(mails):
        pause = started + i / rate - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        client.append("INBOX", mail.raw, msg_time=mail.internaldate)
        delivered[mail.sender.lower()] = time.monotonic()
    client.logout()
    return delivered


def report(args: argparse.Namespace, delivered: dict[str, float], sink: TimedSink, bot: Bot) -> None:
    """Print the figures; exit 1 when replies are missing or the bot logged an error."""
    n = args.messages
    latencies = sorted(sink.accepted[who] - t for who, t in delivered.items() if who in sink.accepted)
    passes = sum(" pass: " in line for line in bot.lines)
    print(f"machine: {os.cpu_count()} cores, {cpu_model()}, Python {sys.version.split()[0]}")
    print(f"bot: `mailbot run`, IMAP IDLE, polling every {args.poll_interval:g} s; database {args.database}")
    print(f"mails: {n} registrations, one APPEND each, {args.rate:g}/s")
    print(f"replies: {len(latencies)} of {n} accepted by SMTP ({sink.other} more); {passes} passes with work")
    if latencies:
        p50, p95 = percentile(latencies, 50), percentile(latencies, 95)
        print(f"delivery -> reply: p50 {p50:.3f} s, p95 {p95:.3f} s, max {latencies[-1]:.3f} s")
    if len(latencies) < n or any("ERROR" in line or "Traceback" in line for line in bot.lines):
        print("".join(bot.lines[-30:]), file=sys.stderr)
        sys.exit(1)


def main() -> None:
    """Start the servers and the bot, deliver at a steady rate, measure, print."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=100)
    parser.add_argument("--rate", type=float, default=5.0, help="mails per second")
    parser.add_argument("--poll-interval", type=float, default=60.0, help="the safety net's period (s)")
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    n = args.messages

    with Dovecot() as dovecot, TimedSink() as sink, tempfile.TemporaryDirectory() as tmp:
        pg = Postgres().start() if args.database == "postgresql" else None
        bot: Bot | None = None
        try:
            url = pg.create_database() if pg else f"sqlite:///{Path(tmp) / 'bench.db'}"
            account = dovecot.account()
            dovecot.client(account.user).logout()  # the first login creates the INBOX
            mails = build_corpus(registrations=n, repeats=0, unrelated=0, auto_replies=0)
            data = config_data(account, sink, url)  # type: ignore[arg-type] (it reads host and port)
            data["events"][0]["capacity"] = n  # type: ignore[index]
            data["bot"] = {
                "poll_interval": args.poll_interval,
                "max_replies_per_hour": 10 * n + 100,
                "max_replies_per_address_per_day": 5,
            }
            config = Path(tmp) / "config.toml"
            config.write_text(toml_text(data))
            bot = Bot(config)
            bot.wait_for(READY_LINE, 60)
            time.sleep(1.0)  # the start-up passes are over
            delivered = deliver_steadily(dovecot, account.user, mails, args.rate)
            deadline = time.monotonic() + max(30.0, 2 * args.poll_interval)
            while sink.count() < n and time.monotonic() < deadline and bot.proc.poll() is None:
                time.sleep(0.05)
        finally:
            if bot is not None:
                bot.stop()
            if pg:
                pg.stop()
    report(args, delivered, sink, bot)


if __name__ == "__main__":
    main()
