"""`mailbot demo --web`: the demo's config for the console and its one-time admin login."""

from __future__ import annotations

import secrets
from dataclasses import replace

from mailbot.bootstrap import build_accounts, open_database
from mailbot.config import Config
from mailbot.core.staff import Role

DEMO_USER = "demo"


def console_config(config: Config, port: int) -> Config:
    """The demo's config for `mailbot web`: loopback on `port`, the second factor off (the demo only)."""
    return replace(config, web=replace(config.web, host="127.0.0.1", port=port, require_second_factor=()))


def demo_login(config: Config) -> tuple[str, str]:
    """Create the admin `demo` with a random password in the demo's database; returns (name, password)."""
    db = open_database(config)
    try:
        accounts = build_accounts(db, config.web)
        while True:  # a random password that happens to break the password rules is drawn again
            password = secrets.token_urlsafe(12)
            problem = accounts.add(DEMO_USER, Role.ADMIN, password)
            if problem is None:
                return DEMO_USER, password
            if accounts.account(DEMO_USER) is not None:
                raise RuntimeError(f"demo: {problem}")
    finally:
        db.dispose()
