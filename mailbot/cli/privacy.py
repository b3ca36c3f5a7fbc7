"""Privacy commands (DSGVO): purge (retention), forget (right to erasure), export-person (right of access)."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from mailbot.bootstrap import addresses, open_database, utc_now
from mailbot.cli.common import desk_for, fail, flush, guard, known_event, load, write_private
from mailbot.service import privacy


def _check_address(command: str, address: str) -> None:
    reason = addresses().check(address).reason
    if reason:
        fail(f"{command}: not a valid email address: {address!r} ({reason})", 2)


@click.command()
@click.option("--dry-run", is_flag=True, help="Only show what would be erased; change nothing.")
@click.option("--event", "event_id", metavar="ID", help="Only this event (erased only if due, unless --now).")
@click.option(
    "--now", "force", is_flag=True, help="With --event: erase that event's data now, whatever its date."
)
@click.pass_context
def purge(ctx: click.Context, dry_run: bool, event_id: str | None, force: bool) -> None:
    """Erase personal data of events past their retention (`delete_after_days` after the start)."""
    config = load(ctx)
    if force and event_id is None:
        fail("purge: --now needs --event ID (one event at a time)", 2)
    if event_id is not None:
        known_event(ctx, event_id, "purge: ")
    tz = ZoneInfo(config.bot.timezone)

    def day(moment: datetime) -> str:
        return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M")

    def act() -> None:
        db = open_database(config)
        now = utc_now()
        if event_id is None:
            report = privacy.purge_due(db, config.events, now, addresses=addresses(), dry_run=dry_run)
        else:
            report = privacy.purge_event(
                db, config.events, event_id, now, addresses=addresses(), force=force, dry_run=dry_run
            )
        verb = "would erase" if dry_run else "erased"
        for item in report.events:
            click.echo(f"{item.event_id} (due {day(item.erase_at)}): {verb} {item.erased.describe()}")
        if report.unlinked_before is not None:
            click.echo(
                f"mail tied to no event, recorded before {day(report.unlinked_before)}: "
                f"{verb} {report.unlinked.ledger} ledger entry(ies)"
            )
        for pending, at in report.not_due:
            click.echo(f"{pending}: not due before {day(at)}")
        if dry_run:
            click.echo("dry run: nothing changed", err=True)
        elif not report.erased.total:
            click.echo("nothing to erase", err=True)

    guard(act)


@click.command()
@click.argument("address")
@click.pass_context
def forget(ctx: click.Context, address: str) -> None:
    """Erase one person everywhere (right to erasure); their seats in coming events go to the waitlist."""
    load(ctx)
    _check_address("forget", address)

    def act() -> None:
        desk = desk_for(ctx)
        report = privacy.forget(desk, address)
        for event_id in report.cancelled:
            click.echo(f"{event_id}: registration of {report.masked} cancelled (no mail to them)")
        for line in report.promoted:
            click.echo(line)
        if report.erased.total:
            click.echo(f"{report.masked}: erased {report.erased.describe()}")
        else:
            click.echo(f"{report.masked}: nothing stored")
        flush(desk)  # the promoted people's mails

    guard(act)


@click.command("export-person")
@click.argument("address")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the JSON to this file (readable by its owner only) instead of stdout.",
)
@click.pass_context
def export_person(ctx: click.Context, address: str, output: Path | None) -> None:
    """Everything stored about one person, as JSON (right of access): registrations, replies, mails."""
    config = load(ctx)
    _check_address("export-person", address)
    tz = ZoneInfo(config.bot.timezone)

    def moment(value: object) -> str:
        if isinstance(value, datetime):
            return value.astimezone(tz).isoformat(timespec="seconds")
        raise TypeError(f"not JSON serialisable: {type(value).__name__}")

    def act() -> None:
        data = privacy.person_data(open_database(config), address, addresses=addresses())
        text = json.dumps(asdict(data), default=moment, ensure_ascii=False, indent=2) + "\n"
        if output is None:
            click.echo(text, nl=False)
        else:
            write_private(output, text.encode("utf-8"))
            click.echo(f"written to {output}", err=True)

    guard(act)


COMMANDS = (purge, forget, export_person)
