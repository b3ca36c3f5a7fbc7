"""`mailbot health`: exit 0 when the desk works, 1 with one line saying why not (Docker HEALTHCHECK)."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from mailbot import bootstrap
from mailbot.cli.common import fail, guard, load


@click.command()
@click.pass_context
def health(ctx: click.Context) -> None:
    """Exit 0 if the last poll succeeded recently and passes don't keep failing; else 1 and why."""
    config = load(ctx)

    def check() -> None:
        result = bootstrap.health(config, datetime.now(UTC))
        if not result.healthy:
            fail(result.line)
        click.echo(result.line)

    guard(check)


COMMANDS = (health,)
