"""`mailbot health`: exit 0 when the desk works, 1 with one line saying why not (Docker HEALTHCHECK)."""

from __future__ import annotations

from datetime import UTC, datetime

import click


@click.command()
@click.pass_context
def health(ctx: click.Context) -> None:
    """Exit 0 if the last poll succeeded recently and passes don't keep failing; else 1 and why."""
    # Imported here: cli.py registers this module's COMMANDS at its own import time.
    from mailbot.adapters.db import Database  # noqa: PLC0415
    from mailbot.cli import _config, _fail, _guard  # noqa: PLC0415
    from mailbot.watchdog import check_health  # noqa: PLC0415

    config = _config(ctx)

    def check() -> None:
        # Read only: no migration, no event sync (a health check runs every minute beside the bot).
        db = Database(config.database.url)
        try:
            result = check_health(db, config, datetime.now(UTC))
        finally:
            db.dispose()
        if not result.healthy:
            _fail(result.line)
        click.echo(result.line)

    _guard(check)


COMMANDS = (health,)
