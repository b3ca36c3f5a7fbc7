"""The staff console under a full event: event page and dashboard p50/p95 with 50,000 registrations."""

from __future__ import annotations

import argparse
import os
import platform
import re
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mailbot.adapters.db import Database  # noqa: E402 (after the path setup)
from mailbot.adapters.db.migrate import migrate  # noqa: E402
from mailbot.config import load_config  # noqa: E402
from mailbot.core.model import Status  # noqa: E402
from mailbot.demo.servers import free_port  # noqa: E402
from tests.servers import Postgres  # noqa: E402

HOW = """\
Seeds one event (every tenth registration by phone) directly through the store in one buffered
transaction, adds an admin account (second factor off for the benchmark), starts the real `mailbot web`
as a process on a loopback port and logs in over HTTP like a browser. Then times sequential GETs of each
page over one keep-alive connection: the event's first page, a search, a status filter, a late page and
the dashboard. Prints p50, p95 and max per page and whether p95 is under the target. Not a test.
"""
TARGET_P95 = 0.200  # seconds, issue 15
EVENT_ID = "bench-2026"
CAPACITY = 1_000
USER, PASSWORD = "bench", secrets.token_urlsafe(18)
FIRST_NAMES = (
    "Anna",
    "Ben",
    "Clara",
    "Deniz",
    "Emil",
    "Fatma",
    "Gustav",
    "Hanna",
    "Ilias",
    "Jana",
    "Karl",
    "Lea",
)
LAST_NAMES = (
    "Müller",
    "Schmidt",
    "Yılmaz",
    "Schneider",
    "Fischer",
    "Weber",
    "Kowalski",
    "Becker",
    "Hoffmann",
)


def config_text(url: str) -> str:
    """A config for the console only: the mail servers are never contacted by `mailbot web`."""
    return f"""[imap]
host = "127.0.0.1"
port = 9
security = "none"
username = "bench"
password = "unused"

[smtp]
host = "127.0.0.1"
port = 9
security = "none"
sender = "Stadt Castrop-Rauxel <anmeldung@castrop-rauxel.de>"

[database]
url = "{url}"

[bot]
timezone = "Europe/Berlin"

[web]
require_second_factor = []

[[events]]
id = "{EVENT_ID}"
title = "Benchmark: Bürgerdialog"
keyword = "Bürgerdialog 2026"
capacity = {CAPACITY}
starts_at = 2026-12-31T18:00:00+01:00
ends_at = 2026-12-31T20:00:00+01:00
"""


def seed(config_path: Path, registrations: int) -> float:
    """Insert the registrations through the store in one buffered transaction; returns the seconds it took."""
    config = load_config(config_path, env={})
    db = Database(config.database.url)
    started = time.perf_counter()
    try:
        migrate(db)
        start = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
        with db.transaction(buffered=True) as tx:
            tx.sync_events(config.events)
            for n in range(1, registrations + 1):
                name = f"{FIRST_NAMES[n % len(FIRST_NAMES)]} {LAST_NAMES[n % len(LAST_NAMES)]} {n}"
                phone_channel = n % 10 == 0
                email = None if phone_channel else f"person{n}@example.org"
                status = Status.CONFIRMED if n <= CAPACITY else Status.WAITLISTED
                tx.add_registration(
                    event_id=EVENT_ID,
                    position=n,
                    status=status,
                    name=name,
                    email=email,
                    email_normalized=email,
                    channel="phone" if phone_channel else "email",
                    received_at=start + timedelta(seconds=n),
                    ledger_id=None,
                    message_id=None,
                    now=start + timedelta(seconds=n),
                    actor="bench",
                    phone=f"+49 2305 {n:06d}" if phone_channel else None,
                )
    finally:
        db.dispose()
    return time.perf_counter() - started


def mailbot(config: Path, *args: str, stdin: str = "") -> None:
    """Run one mailbot command to its end; exits the benchmark with its stderr if it fails."""
    result = subprocess.run(
        [sys.executable, "-m", "mailbot", "--config", str(config), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=False,
    )
    if result.returncode != 0:
        sys.exit(f"mailbot {' '.join(args)} failed:\n{result.stderr}")


def start_console(config: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    """`mailbot web` on a loopback port, its output in `log`; returns once /healthz answers."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mailbot", "--config", str(config), "web", "--port", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            start_new_session=True,
        )
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            sys.exit(f"mailbot web exited:\n{log.read_text(errors='replace')}")
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                sys.exit("mailbot web did not answer within 60 s")
            time.sleep(0.1)
        else:
            return proc


def csrf_of(page: str) -> str:
    """The CSRF token a page puts into its forms."""
    found = re.search(r'name="csrf" value="([^"]*)"', page)
    if found is None:
        sys.exit("no CSRF token in the page")
    return found.group(1)


def log_in(client: httpx.Client) -> None:
    """Log in through the form like a browser: the form's token, then POST /login."""
    token = csrf_of(client.get("/login").text)
    answer = client.post("/login", data={"username": USER, "password": PASSWORD, "csrf": token})
    if answer.status_code != 303 or client.get("/").status_code != 200:
        sys.exit(f"login failed: {answer.status_code}")


def time_page(client: httpx.Client, request: httpx.Request, requests: int) -> list[float]:
    """Seconds per answer to `request` (after two warm-up requests); every answer must be 200."""
    times = []
    for n in range(requests + 2):
        started = time.perf_counter()
        answer = client.send(request)
        elapsed = time.perf_counter() - started
        answer.raise_for_status()
        if n >= 2:
            times.append(elapsed)
    return times


def main() -> None:
    """Parse the arguments, seed, start the console, time the pages, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__, epilog=HOW)
    parser.add_argument("--registrations", type=int, default=50_000)
    parser.add_argument("--requests", type=int, default=100, help="timed requests per page")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="mailbot-bench-web-") as tmp:
        work = Path(tmp)
        postgres = Postgres().start() if args.database == "postgresql" else None
        try:
            url = postgres.create_database() if postgres else f"sqlite:///{work / 'mailbot.db'}"
            config = work / "config.toml"
            config.write_text(config_text(url), encoding="utf-8")
            seconds = seed(config, args.registrations)
            print(f"seeded {args.registrations} registrations in {seconds:.1f} s ({args.database})")
            mailbot(config, "user", "add", USER, "--role", "admin", stdin=f"{PASSWORD}\n")
            port = free_port("127.0.0.1")
            proc = start_console(config, port, work / "web.log")
            try:
                run(f"http://127.0.0.1:{port}", args.requests, args.registrations)
            finally:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=20)
        finally:
            if postgres is not None:
                postgres.stop()


def run(base: str, requests: int, registrations: int) -> None:
    """Log in, time each page, print one line per page."""
    last_page = max(1, -(-registrations // 100))
    event = f"/events/{EVENT_ID}"
    with httpx.Client(base_url=base, timeout=30, follow_redirects=False) as client:
        log_in(client)
        token = csrf_of(client.get(event).text)
        # The search is a POST: names and numbers stay out of URLs (and so out of proxy logs).
        search = {"csrf": token, "q": f"Yılmaz {registrations * 2 // 3}", "status": ""}
        pages = {
            "event, first page": client.build_request("GET", event),
            "event, search (POST)": client.build_request("POST", event, data=search),
            "event, waitlisted only": client.build_request("GET", event, params={"status": "waitlisted"}),
            f"event, last page ({last_page})": client.build_request("GET", event, params={"page": last_page}),
            "dashboard": client.build_request("GET", "/"),
            "dashboard, live part": client.build_request("GET", "/dashboard/live"),
        }
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"{platform.node()}: {os.cpu_count()} cores (load {load}), Python {platform.python_version()}")
        print(f"{'page':<28} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}  p95 < {TARGET_P95 * 1000:.0f} ms")
        for label, request in pages.items():
            times = time_page(client, request, requests)
            p50 = statistics.median(times)
            p95 = statistics.quantiles(times, n=20)[18]
            verdict = "yes" if p95 < TARGET_P95 else "NO"
            print(f"{label:<28} {p50 * 1000:8.1f} {p95 * 1000:8.1f} {max(times) * 1000:8.1f}  {verdict}")


if __name__ == "__main__":
    main()
