"""Console fixtures: the app on SQLite and PostgreSQL with logged-in staff; Chromium; mailbot as processes."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx2
import pyotp
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver
from starlette.testclient import TestClient

from mailbot.config import Config, parse_config
from mailbot.core.staff import Role
from mailbot.demo.servers import free_port
from mailbot.web.app import create_app
from mailbot.web.console import Console, open_console
from tests.conftest import EVENT, SENDER, _missing_server

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"  # Debian's `chromium`
CHROMEDRIVER = "/usr/bin/chromedriver"  # Debian's `chromium-driver`, the same version as the browser
START_TIMEOUT = 60.0  # seconds for a process to listen: CI has 2 busy cores
PAGE_TIMEOUT = 30.0  # seconds for a page load or an explicit wait in the browser


# --- the browser -------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def chromium_paths() -> tuple[str, str]:
    """The system Chromium and its WebDriver; missing: a skip locally, a failure in CI (never a skip)."""
    if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
        _missing_server("Chromium (chromium, chromium-driver)")
    return CHROMIUM, CHROMEDRIVER


@pytest.fixture
def downloads(tmp_path: Path) -> Path:
    """The directory the test's browser saves downloads into."""
    path = tmp_path / "downloads"
    path.mkdir()
    return path


@pytest.fixture
def browser(chromium_paths: tuple[str, str], tmp_path: Path, downloads: Path) -> Iterator[WebDriver]:
    """A headless Chromium with a fresh profile that reaches nothing but loopback, driven by Selenium."""
    binary, driver = chromium_paths
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in (
        "--headless=new",
        "--no-sandbox",  # the tests run as root in CI containers, where Chromium's sandbox cannot start
        "--disable-dev-shm-usage",  # containers often have a 64 MB /dev/shm
        "--disable-gpu",
        f"--user-data-dir={tmp_path / 'profile'}",  # isolated: no cookies or cache from anywhere else
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--metrics-recording-only",
        # Loopback only: every other host name fails to resolve, so a page can never reach the internet.
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1",
        "--window-size=1280,1024",
    ):
        options.add_argument(argument)
    options.add_experimental_option(
        "prefs",
        {
            "download.default_directory": str(downloads),
            "download.prompt_for_download": False,
            "safebrowsing.enabled": False,
        },
    )
    log = tmp_path / "chromedriver.log"
    chrome = webdriver.Chrome(service=Service(driver, log_output=str(log)), options=options)
    try:
        chrome.set_page_load_timeout(PAGE_TIMEOUT)
        # Headless Chromium only saves downloads where it is told to through the DevTools protocol.
        chrome.execute_cdp_cmd(
            "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
        )
        yield chrome
    finally:
        chrome.quit()


def wait_for_file(directory: Path, suffix: str, timeout: float = PAGE_TIMEOUT) -> Path:
    """The one finished download ending in `suffix` (Chromium writes `.crdownload` until it is complete)."""
    deadline = time.monotonic() + timeout
    while True:
        done = [p for p in directory.iterdir() if p.name.endswith(suffix)]
        partial = [p for p in directory.iterdir() if p.name.endswith(".crdownload")]
        if len(done) == 1 and not partial:
            return done[0]
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"no {suffix} download in {directory}: {sorted(p.name for p in directory.iterdir())}"
            )
        time.sleep(0.1)


# --- mailbot as real processes ------------------------------------------------------------------------------


def mailbot_command(config: Path, *args: str) -> list[str]:
    """The command line of `mailbot --config CONFIG ARGS...` in this interpreter."""
    return [sys.executable, "-m", "mailbot", "--config", str(config), *args]


def mailbot_env() -> dict[str, str]:
    """The environment for a mailbot child process: this checkout first on the import path."""
    return {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}


def run_mailbot(
    config: Path, *args: str, stdin: str = "", timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run one mailbot command to its end (e.g. `user add`), failing the test with its stderr if it fails."""
    result = subprocess.run(
        mailbot_command(config, *args),
        input=stdin,
        capture_output=True,
        text=True,
        env=mailbot_env(),
        cwd=config.parent,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, f"mailbot {' '.join(args)} exited {result.returncode}:\n{result.stderr}"
    return result


class MailbotProcess:
    """A long-running mailbot command (`web`, `run`) as a child process, its output in a log file."""

    def __init__(self, config: Path, *args: str) -> None:
        self.config = config
        self.args = args
        self.log = config.parent / f"mailbot-{args[0]}-{os.getpid()}-{id(self)}.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Self:
        """Start the process (its own process group, so that stop() takes its children along)."""
        with self.log.open("wb") as out:
            self._proc = subprocess.Popen(
                mailbot_command(self.config, *self.args),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=mailbot_env(),
                cwd=self.config.parent,
                start_new_session=True,
            )
        return self

    @property
    def running(self) -> bool:
        """Whether the process is still alive."""
        return self._proc is not None and self._proc.poll() is None

    def output(self) -> str:
        """Everything the process wrote so far (stdout and stderr)."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_until(self, ready: Callable[[], bool], what: str, timeout: float = START_TIMEOUT) -> None:
        """Poll `ready` until it holds; fail with the process's output if it exits or time runs out."""
        deadline = time.monotonic() + timeout
        while not ready():
            if not self.running:
                raise RuntimeError(f"mailbot {self.args[0]} exited before {what}:\n{self.output()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"mailbot {self.args[0]}: no {what} within {timeout} s:\n{self.output()}")
            time.sleep(0.1)

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM the process group, SIGKILL after `timeout` s; returns the exit status."""
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        return proc.returncode

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


@dataclass(frozen=True)
class WebConsole:
    """A `mailbot web` process listening on a loopback port."""

    url: str  # http://127.0.0.1:PORT, no trailing slash
    process: MailbotProcess


def _answers(url: str) -> bool:
    try:
        httpx2.get(f"{url}/healthz", timeout=2.0)
    except httpx2.TransportError:
        return False
    return True


@contextlib.contextmanager
def web_console(config: Path) -> Iterator[WebConsole]:
    """`mailbot web` on a free loopback port for `config`, until the block ends (SIGTERM)."""
    port = free_port("127.0.0.1")
    url = f"http://127.0.0.1:{port}"
    with MailbotProcess(config, "web", "--host", "127.0.0.1", "--port", str(port)) as process:
        process.wait_until(lambda: _answers(url), f"answer on {url}")
        yield WebConsole(url, process)


@contextlib.contextmanager
def running_bot(config: Path) -> Iterator[MailbotProcess]:
    """`mailbot run` for `config` (its IMAP mailbox and SMTP sink), until the block ends (SIGTERM)."""
    with MailbotProcess(config, "run") as process:
        yield process


# --- the app in-process on a real database (route tests) ----------------------------------------------

PASSWORD = "correct horse battery staple"


class Clock:
    """A clock the test sets: `advance(minutes=31)` moves the console's time."""

    def __init__(self) -> None:
        self.now = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        """Move the time forward."""
        self.now += timedelta(**delta)


def web_config(url: str, **bot: object) -> Config:
    """A configuration with one event on `url`; IMAP and SMTP are never contacted by the console."""
    data: dict[str, Any] = {
        "imap": {"host": "127.0.0.1", "port": 1, "security": "none", "username": "u", "password": "p"},
        "smtp": {"host": "127.0.0.1", "port": 1, "security": "none", "sender": SENDER},
        "database": {"url": url},
        "bot": {"poll_interval": 60, **bot},
        "events": [dict(EVENT)],
    }
    return parse_config(data, "<test>")


@pytest.fixture
def clock() -> Clock:
    """The console's clock."""
    return Clock()


@pytest.fixture
def console_factory(db_url: str, clock: Clock) -> Iterator[Callable[..., Console]]:
    """Builds the console on the test's database; keyword arguments override `[web]` settings."""
    built: list[Console] = []

    def make(**web: Any) -> Console:
        config = web_config(db_url)
        console = open_console(replace(config, web=replace(config.web, **web)), clock=clock)
        built.append(console)
        return console

    yield make
    for console in built:
        console.desk.db.dispose()


@pytest.fixture
def console(console_factory: Callable[..., Console]) -> Console:
    """The console with the default `[web]` settings."""
    return console_factory()


@pytest.fixture
def client(console: Console) -> Iterator[TestClient]:
    """A browser on the console, as plain HTTP on loopback."""
    with TestClient(create_app(console), base_url="http://127.0.0.1:8080", follow_redirects=False) as browser:
        yield browser


def csrf_of(page: str) -> str:
    """The CSRF token in a page's first form."""
    found = re.search(r'name="csrf" value="([^"]*)"', page)
    assert found is not None, "no CSRF field in the page"
    return found.group(1)


def log_in(browser: TestClient, name: str, password: str = PASSWORD, totp_secret: str | None = None) -> Any:
    """Log in through the form (and the second-factor step with a TOTP code); the last response."""
    page = browser.get("/login")
    response = browser.post(
        "/login", data={"username": name, "password": password, "csrf": csrf_of(page.text)}
    )
    if response.status_code == 303 and response.headers["location"] == "/login/code" and totp_secret:
        form = browser.get("/login/code")
        code = pyotp.TOTP(totp_secret).at(browser.app.state.console.clock())  # type: ignore[attr-defined]
        response = browser.post("/login/code", data={"code": code, "csrf": csrf_of(form.text)})
    return response


def add_staff(console: Console, name: str, role: Role, *, totp: bool | None = None) -> str | None:
    """Create an account with PASSWORD; with a TOTP secret when `totp` (default: when the role needs one)."""
    assert console.accounts.add(name, role, PASSWORD) is None
    if totp is None:
        totp = role in console.accounts.policy.second_factor_roles
    if not totp:
        return None
    secret = pyotp.random_base32()
    account = console.accounts.account(name)
    assert account is not None
    console.accounts.store.update_account(replace(account, totp_secret=secret))
    return secret


@pytest.fixture
def staff_client(console: Console) -> Iterator[Callable[[Role], TestClient]]:
    """`staff_client(Role.HOTLINE)`: a new browser logged in as a new staff member of that role."""
    browsers: list[TestClient] = []

    def make(role: Role, name: str | None = None) -> TestClient:
        name = name or f"{role.label}-{len(browsers) + 1}"
        secret = add_staff(console, name, role)
        browser = TestClient(create_app(console), base_url="http://127.0.0.1:8080", follow_redirects=False)
        browser.__enter__()
        browsers.append(browser)
        response = log_in(browser, name, totp_secret=secret)
        assert response.status_code == 303, response.text
        assert response.headers["location"] == "/"
        return browser

    yield make
    for browser in browsers:
        browser.__exit__(None, None, None)


@pytest.fixture
def browsers_pair(console: Console) -> Iterator[tuple[TestClient, TestClient]]:
    """Two browsers on the same console (each with its own cookies)."""
    first = TestClient(create_app(console), base_url="http://127.0.0.1:8080", follow_redirects=False)
    second = TestClient(create_app(console), base_url="http://127.0.0.1:8080", follow_redirects=False)
    with first, second:
        yield first, second
