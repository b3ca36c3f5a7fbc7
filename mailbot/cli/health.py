"""`mailbot health`: exit 0 when the desk works, 1 with one line saying why not (Docker HEALTHCHECK)."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from mailbot.adapters.db import Database
from mailbot.cli.common import fail, guard, load
from mailbot.watchdog import check_health


@click.command()
@click.pass_context
def health(ctx: click.Context) -> None:
    """Exit 0 if the last poll succeeded recently and passes don't keep failing; else 1 and why."""
    config = load(ctx)

    def check() -> None:
        # Read only: no migration, no event sync (a health check runs every minute beside the bot).
        db = Database(config.database.url)
        try:
            result = check_health(db, config, datetime.now(UTC))
        finally:
            db.dispose()
        if not result.healthy:
            fail(result.line)
        click.echo(result.line)

    guard(check)


COMMANDS = (health,)
