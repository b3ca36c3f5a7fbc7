"""The `mailbot` command group: global options, and every command module's COMMANDS registered on it."""

from __future__ import annotations

import importlib

import click

from mailbot.logs import configure_logging

# Each module holds one group of commands and lists them in its COMMANDS tuple (see docs/ARCHITECTURE.md);
# this table names the module of each command, so a command loads only its own module (and what that imports).
COMMAND_MODULES: dict[str, str] = {
    "run": "mailbot.cli.run",
    "demo": "mailbot.cli.demo",
    "status": "mailbot.cli.reports",
    "export": "mailbot.cli.reports",
    "inspect": "mailbot.cli.reports",
    "triage": "mailbot.cli.reports",
    "db": "mailbot.cli.reports",
    "add": "mailbot.cli.admin",
    "cancel": "mailbot.cli.admin",
    "list": "mailbot.cli.admin",
    "import": "mailbot.cli.admin",
    "history": "mailbot.cli.admin",
    "send-access": "mailbot.cli.admin",
    "retry": "mailbot.cli.admin",
    "health": "mailbot.cli.health",
    "purge": "mailbot.cli.privacy",
    "forget": "mailbot.cli.privacy",
    "export-person": "mailbot.cli.privacy",
    "user": "mailbot.cli.user",
    "web": "mailbot.cli.web",
}


class CommandTable(click.Group):
    """The commands of COMMAND_MODULES, each loaded from its module when it is used (click's lazy loading).

    `mailbot run` then starts without the console's web stack and the spreadsheet writer, `mailbot health`
    without the sending process's modules: the start-up of every command process is what it needs.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:  # noqa: ARG002 (click's signature)
        """Every command's name, without loading any of them."""
        return sorted(COMMAND_MODULES)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:  # noqa: ARG002 (click's)
        """The named command, from its module's COMMANDS; None for an unknown name."""
        if cmd_name not in COMMAND_MODULES:
            return None
        commands: tuple[click.Command, ...] = importlib.import_module(COMMAND_MODULES[cmd_name]).COMMANDS
        return next(command for command in commands if command.name == cmd_name)


@click.group(cls=CommandTable, context_settings={"help_option_names": ["-h", "--help"]})
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


def main() -> None:
    """Console entry point."""
    cli(obj={})
