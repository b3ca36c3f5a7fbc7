"""`Console`: what the console's routes reach the desk through (config, use-cases, accounts, clock)."""

from __future__ import annotations

from dataclasses import dataclass

from mailbot.bootstrap import build_accounts, build_desk, open_database, utc_now
from mailbot.config import Config, WebSettings
from mailbot.exports import export_files
from mailbot.ports import Clock
from mailbot.service import Desk
from mailbot.service.accounts import Accounts


@dataclass(frozen=True)
class Console:
    """The console's handle on the desk: the same use-cases the CLI calls, the staff accounts, one clock."""

    config: Config
    desk: Desk
    accounts: Accounts
    clock: Clock

    @property
    def web(self) -> WebSettings:
        """The `[web]` settings."""
        return self.config.web


def open_console(config: Config, *, clock: Clock = utc_now) -> Console:
    """The console for a configuration: the desk as `mailbot run` builds it (its mail is sent by the bot)."""
    db = open_database(config)
    desk = build_desk(config, db=db, clock=clock, export_files=export_files())
    accounts = build_accounts(db, config.web, clock)
    return Console(config=config, desk=desk, accounts=accounts, clock=clock)
