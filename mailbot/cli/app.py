"""The `mailbot` command group: global options, and every command module's COMMANDS registered on it."""

from __future__ import annotations

import click

from mailbot.cli import admin, health, privacy, reports, run, user, web
from mailbot.logs import configure_logging

# Each module holds one group of commands and lists them in its COMMANDS tuple (see docs/ARCHITECTURE.md).
COMMAND_MODULES = (run, reports, admin, health, privacy, user, web)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config", "config_path", metavar="PATH", help="Config file (else $MAILBOT_CONFIG, else ./config.toml)."
)
@click.option("-v", "--verbose", is_flag=True, help="Log every message handled.")
@click.version_option(package_name="mailbot")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, verbose: bool) -> None:
    """mailbot: an email-driven registration desk for public events."""
    ctx.ensure_object(dict)["config_path"] = config_path
    ctx.obj["verbose"] = verbose
    configure_logging(verbose)


for _module in COMMAND_MODULES:
    for _command in _module.COMMANDS:
        cli.add_command(_command)


def main() -> None:
    """Console entry point."""
    cli(obj={})
