"""A registration rush: N mails in Dovecot, the real bot, and the raw protocol limits on the same servers.

Usage: python bench/burst.py [--messages N] [--database sqlite|postgresql]

Prints: time until every registration is committed, time until every reply is accepted by SMTP, end-to-end
messages per second, the bot's peak RSS; then the raw limits (batched UID FETCH of all N with imapclient; the
bot's N replies again over one persistent aiosmtplib connection, best of two runs) and the bot's throughput as
a ratio of the slower one.
Starts a private Dovecot (and PostgreSQL) and an aiosmtpd sink on loopback with the test fixtures' code.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import aiosmtplib  # noqa: E402 (after the path setup)
from sqlalchemy import create_engine, func, select  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402

from mailbot.adapters.db import LedgerRow  # noqa: E402
from mailbot.config import SmtpSettings  # noqa: E402
from mailbot.demo.corpus import build_corpus  # noqa: E402
from mailbot.demo.servers import ReceivedMail, SmtpSink  # noqa: E402
from tests.conftest import config_data, toml_text  # noqa: E402
from tests.servers import Dovecot, ImapAccount, Postgres  # noqa: E402


def raw_fetch(dovecot: Dovecot, account: ImapAccount) -> float:
    """Seconds to UID FETCH every message (RFC822, INTERNALDATE, FLAGS) in batches of 500."""
    client = dovecot.client(account.user)
    client.select_folder("INBOX", readonly=True)
    started = time.perf_counter()
    uids = client.search(["ALL"])
    for start in range(0, len(uids), 500):
        client.fetch(uids[start : start + 500], ["BODY.PEEK[]", "INTERNALDATE", "FLAGS"])
    elapsed = time.perf_counter() - started
    client.logout()
    return elapsed


def raw_send(sink: SmtpSink, replies: list[ReceivedMail]) -> float:
    """Seconds to send the bot's replies again, one after another over one persistent aiosmtplib connection.

    The same messages (size, lines, envelope) as the bot sent: the server's work per reply is the same on both
    sides of the ratio.
    """

    async def send() -> None:
        smtp = aiosmtplib.SMTP(hostname=sink.host, port=sink.port)
        await smtp.connect()
        for reply in replies:
            await smtp.sendmail(reply.mail_from, list(reply.rcpt_tos), reply.data)
        await smtp.quit()

    sink.clear()
    started = time.perf_counter()
    asyncio.run(send())
    return time.perf_counter() - started


def peak_rss_kb(pid: int) -> int:
    """The process's peak resident set so far (VmHWM, kB); 0 once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    return next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), 0)


def children(pid: int) -> list[int]:
    """The process's children (the bot's sending process)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def run_bot(config: Path, url: str, sink: SmtpSink, n: int) -> tuple[float, float, int]:
    """Run `mailbot run --once` as a process: seconds until all N are committed and all N replies accepted,
    and the bot's peak RSS in kB (read from /proc while it runs: the bot's and its sending process's peaks,
    added). The database is created first (`mailbot db upgrade`, as on an installed desk), untimed."""
    db = create_engine(url, pool_size=1, max_overflow=0)  # reads only: never SQLite's write lock (see below)
    # The desk as installed: its database exists (`mailbot db upgrade`), the rush finds it waiting.
    subprocess.run(
        [sys.executable, "-m", "mailbot", "--config", str(config), "db", "upgrade"],
        check=True,
        stdout=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mailbot", "--config", str(config), "run", "--once"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    committed = sent = None
    peaks: dict[int, int] = {}
    sending: list[int] = []

    def watch() -> None:
        if not sending:  # /proc is scanned until the sending process is found: the scan costs CPU too
            sending.extend(children(proc.pid))
        for pid in [proc.pid, *sending]:
            peaks[pid] = max(peaks.get(pid, 0), peak_rss_kb(pid))

    ticks = 0
    while committed is None or sent is None:
        if ticks % 10 == 0:  # every 0.2 s: scanning /proc costs the machine the bot runs on
            watch()
        ticks += 1
        now = time.perf_counter() - started
        if committed is None and ledger_size(db) >= n:
            committed = now
        if sent is None and sink.count >= n:
            sent = now
        if proc.poll() is not None and (committed is None or sent is None):
            committed, sent = committed or now, sent or now  # the bot ended early: report what it did
        time.sleep(0.02)
    while proc.poll() is None:
        watch()
        time.sleep(0.02)
    db.dispose()
    print("peak RSS by process (MB): " + ", ".join(f"{kb / 1024:.0f}" for kb in peaks.values()))
    return committed, sent, sum(peaks.values())


def ledger_size(db: Engine) -> int:
    """Messages in the ledger (0 while the bot hasn't created the schema yet).

    A plain read on an engine of its own: `Database.transaction()` would BEGIN IMMEDIATE on SQLite and take
    the write lock from the bot 50 times a second.
    """
    try:
        with db.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(LedgerRow)).scalar() or 0)
    except Exception:  # noqa: BLE001 (the schema may not exist yet in the first milliseconds)
        return 0


def main() -> None:
    """Deliver, run the bot, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    default = SmtpSettings.connections
    parser.add_argument("--connections", type=int, default=default, help="[smtp] connections")
    args = parser.parse_args()
    n = args.messages

    with Dovecot() as dovecot, SmtpSink() as sink, tempfile.TemporaryDirectory() as tmp:
        pg = Postgres().start() if args.database == "postgresql" else None
        try:
            url = pg.create_database() if pg else f"sqlite:///{Path(tmp) / 'bench.db'}"
            account = dovecot.account()
            mails = build_corpus(registrations=n, repeats=0, unrelated=0, auto_replies=0)
            dovecot.append_many(account.user, [(m.raw, m.internaldate) for m in mails])
            size = sum(len(m.raw) for m in mails) / n
            data = config_data(account, sink, url)
            data["events"][0]["capacity"] = n // 2  # type: ignore[index]
            data["bot"] = {"max_replies_per_hour": 10 * n, "max_replies_per_address_per_day": 5}
            data["smtp"]["connections"] = args.connections  # type: ignore[index]
            config = Path(tmp) / "config.toml"
            config.write_text(toml_text(data))
            committed, sent, peak_kb = run_bot(config, url, sink, n)
            fetch = raw_fetch(dovecot, account)
            replies = sink.messages
            # Twice, the faster counts: a slow moment of the machine must not flatter the ratio.
            smtp_runs = [raw_send(sink, replies) for _ in range(2)]
            smtp = min(smtp_runs)
        finally:
            if pg:
                pg.stop()

    bot_rate = n / sent
    slower = min(n / fetch, n / smtp)
    print(
        f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, database {args.database}, "
        f"{args.connections} SMTP connection(s)"
    )
    print(f"messages: {n} registrations of ~{size / 1024:.1f} KB")
    print(f"bot: all registrations committed after {committed:7.2f} s")
    print(f"bot: all replies accepted by SMTP after {sent:7.2f} s  -> {bot_rate:8.0f} msg/s end to end")
    print(f"bot: peak RSS {peak_kb / 1024:6.0f} MB")
    print(f"raw: UID FETCH of all, batches of 500: {fetch:7.2f} s  -> {n / fetch:8.0f} msg/s")
    runs = ", ".join(f"{t:.2f} s" for t in smtp_runs)
    line = f"raw: {n} replies over one SMTP connection: {smtp:7.2f} s  -> {n / smtp:8.0f} msg/s"
    print(f"{line} (best of {runs})")
    print(f"ratio: bot / slower raw limit = {bot_rate / slower:.2f}")


if __name__ == "__main__":
    main()
