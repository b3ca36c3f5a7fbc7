"""Helpers of the console's page tests: a future event of few seats on a real database, staff logged in."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from mailbot.bootstrap import build_desk
from mailbot.config import Config, parse_config
from mailbot.core.staff import Role
from mailbot.service import Desk
from mailbot.web.app import create_app
from mailbot.web.console import Console, open_console
from tests.conftest import toml_text
from tests.web.conftest import add_staff, log_in

EVENT_ID = "sprechstunde-2099"
NOW = datetime(2099, 3, 1, 9, 0, tzinfo=UTC)


def config_tables(db_url: str, *, capacity: int = 2, language: str = "de") -> dict[str, object]:
    """The TOML tables of a config with one event in 2099; IMAP and SMTP are never contacted."""
    return {
        "imap": {"host": "127.0.0.1", "port": 9, "security": "none", "username": "u", "password": "p"},
        "smtp": {"host": "127.0.0.1", "port": 9, "security": "none", "sender": "Stadt <desk@stadt.example>"},
        "database": {"url": db_url},
        "bot": {"language": language},
        "events": [
            {
                "id": EVENT_ID,
                "title": "Bürgersprechstunde",
                "keyword": "Sprechstunde",
                "capacity": capacity,
                "starts_at": "2099-10-08T18:00:00+02:00",
                "access_info": "Raum 101, Code 4711",
            }
        ],
    }


def console_config(db_url: str, *, capacity: int = 2, language: str = "de") -> Config:
    """The config of `config_tables` as the desk reads it."""
    return parse_config(config_tables(db_url, capacity=capacity, language=language), "test.toml", env={})


def write_config(path: Path, db_url: str, *, capacity: int = 2) -> Path:
    """The same config as a file, for the command line."""
    path.write_text(toml_text(config_tables(db_url, capacity=capacity)), encoding="utf-8")
    return path


class Clock:
    """A clock that moves one second per reading (arrivals stay in order)."""

    def __init__(self, start: datetime = NOW) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def make_desk(db_url: str, *, capacity: int = 3, language: str = "de") -> Desk:
    """A desk on the database at `db_url` (migrated), with the test clock."""
    return build_desk(console_config(db_url, capacity=capacity, language=language), clock=Clock())


StaffBrowser = Callable[[Role], TestClient]


def staff_browsers(console: Console) -> Iterator[StaffBrowser]:
    """`browser(Role.HOTLINE)`: a new browser on the app, logged in as a new staff member of that role."""
    opened: list[TestClient] = []

    def make(role: Role) -> TestClient:
        name = f"{role.label}-{len(opened) + 1}"
        secret = add_staff(console, name, role)
        browser = TestClient(create_app(console), base_url="http://127.0.0.1:8080", follow_redirects=False)
        browser.__enter__()
        opened.append(browser)
        assert log_in(browser, name, totp_secret=secret).status_code == 303
        return browser

    yield make
    for browser in opened:
        browser.__exit__(None, None, None)
    console.desk.db.dispose()


@pytest.fixture
def pages(db_url: str) -> Iterator[StaffBrowser]:
    """Browsers on a console whose event (2099) has 2 seats, German texts."""
    yield from staff_browsers(open_console(console_config(db_url), clock=Clock()))


@pytest.fixture
def english_pages(db_url: str) -> Iterator[StaffBrowser]:
    """Browsers on a console with `[bot] language = "en"`."""
    yield from staff_browsers(open_console(console_config(db_url, language="en"), clock=Clock()))
