"""Commands that read the desk: status, export, inspect, triage, and `db upgrade`."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from mailbot.bootstrap import open_database
from mailbot.cli.common import fail, guard, known_event, load, write_private
from mailbot.cli.render import render_table
from mailbot.exports import export_files
from mailbot.service.exports import export_file
from mailbot.service.reports import inspect_text, status_text, triage_text


@click.command()
@click.pass_context
def status(ctx: click.Context) -> None:
    """Every event in a table (capacity, confirmed, free, waitlisted, replies); last poll; warnings."""
    config = load(ctx)
    guard(lambda: click.echo(status_text(open_database(config), config, render_table)))


@click.command()
@click.option("--event", "event_id", metavar="ID", help="Only this event.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "xlsx"]),
    default="csv",
    show_default=True,
    help="xlsx: an Excel workbook, one sheet per event (needs -o).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File (default: stdout, csv only; xlsx needs one).",
)
@click.option("--delimiter", type=click.Choice([";", ","]), default=";", show_default=True, help="csv only.")
@click.pass_context
def export(ctx: click.Context, event_id: str | None, fmt: str, output: Path | None, delimiter: str) -> None:
    """Registrations for Excel, in arrival order: CSV (UTF-8 with BOM) or an xlsx workbook."""
    if fmt == "xlsx" and output is None:
        fail("export: --format xlsx needs -o FILE (a workbook is not written to the terminal)", 2)
    config = load(ctx)
    if event_id is not None:
        known_event(ctx, event_id, "export: ")

    def write() -> None:
        data, count = export_file(
            open_database(config), export_files(), config, event_id, fmt, datetime.now(UTC), delimiter
        )
        if output is None:
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
        else:
            write_private(output, data)
            click.echo(f"{count} registration(s) written to {output}", err=True)

    guard(write)


@click.command()
@click.argument("key")
@click.pass_context
def inspect(ctx: click.Context, key: str) -> None:
    """Explain what happened to a message: by UID or Message-ID."""
    config = load(ctx)

    def show() -> None:
        text = inspect_text(open_database(config), key, ZoneInfo(config.bot.timezone))
        if not text:
            fail(f"inspect: no message {key!r} in the ledger")
        click.echo(text)

    guard(show)


@click.command()
@click.pass_context
def triage(ctx: click.Context) -> None:
    """Messages staff should look at: quarantined, too large, not answered, bounced; failed replies."""
    config = load(ctx)
    guard(lambda: click.echo(triage_text(open_database(config), ZoneInfo(config.bot.timezone))))


@click.group()
def db() -> None:
    """Database maintenance."""


@db.command()
@click.pass_context
def upgrade(ctx: click.Context) -> None:
    """Migrate the database schema to the newest version (also done on every start)."""
    config = load(ctx)

    def migrate() -> None:
        open_database(config).dispose()
        click.echo("database is up to date")

    guard(migrate)


COMMANDS = (status, export, inspect, triage, db)
