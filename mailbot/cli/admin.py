"""Admin and hotline commands: add, cancel, list, import, history, send-access, retry."""

from __future__ import annotations

import math
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from mailbot.bootstrap import addresses, open_database
from mailbot.cli.common import desk_for, fail, flush, guard, known_event, load
from mailbot.cli.render import progress, render_table
from mailbot.core.booking import places
from mailbot.core.model import Channel, ReplyStatus
from mailbot.imports import ImportFileError, read_import
from mailbot.service.retry import retry as retry_mails


def _moment(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        fail(f"--received-at {value!r} is not ISO 8601, e.g. 2020-09-21T10:15:00+02:00", 2)
    if moment.tzinfo is None:
        fail(f"--received-at {value!r} needs a UTC offset, e.g. +02:00", 2)
    return moment


@click.command()
@click.argument("event_id", metavar="EVENT")
@click.option("--name", required=True, help="The person's name.")
@click.option("--email", help="Their address: they get the usual reply mail.")
@click.option("--phone", help="Their phone number.")
@click.option(
    "--received-at",
    help="When the call came in (ISO 8601 with offset; default: now). Not in the future, and not before "
    "the event's last registration.",
)
@click.option("--admin", "as_admin", is_flag=True, help="Record the channel as 'admin' instead of 'phone'.")
@click.option(
    "--notify/--no-notify",
    default=None,
    help="Mail the person (--notify: also a duplicate notice stating the registration they hold) or not. "
    "Default: a new registration is mailed, a duplicate is not.",
)
@click.pass_context
def add(
    ctx: click.Context,
    *,
    event_id: str,
    name: str,
    email: str | None,
    phone: str | None,
    received_at: str | None,
    as_admin: bool,
    notify: bool | None,
) -> None:
    """Record a registration from the hotline (channel phone) in arrival order."""
    event_id = known_event(ctx, event_id)
    if not email and not phone:
        fail("add: give --email or --phone (or both)", 2)
    when = _moment(received_at)

    def act() -> None:
        desk = desk_for(ctx)
        channel = Channel.ADMIN if as_admin else Channel.PHONE
        done = desk.admin_register(
            event_id,
            name=name,
            email=email,
            phone=phone,
            received_at=when,
            channel=channel,
            actor=f"{channel.value} (mailbot add)",
            notify=notify,
            check_arrival=True,
        )
        decision = done.decision
        place = (
            f"seat {decision.seat}"
            if decision.seat
            else f"waitlist place {decision.waitlist_position}"
            if decision.waitlist_position
            else ""
        )
        if decision.reply is ReplyStatus.DUPLICATE:
            held = ", ".join(
                p for p in (str(decision.status), f"arrival no. {decision.position}", place) if p
            )
            click.echo(
                f"duplicate: already registered for {event_id} as #{done.registration_id} "
                f"({done.name}, {held}); nothing new recorded"
            )
        else:
            click.echo(
                f"{decision.reply.value}: {name} (registration #{done.registration_id}, "
                f"arrival no. {decision.position}" + (f", {place})" if place else ")")
            )
        if done.warning:
            click.echo(f"mailbot: warning: {done.warning}", err=True)
        click.echo(_mail_line(done.mailed, decision.reply, email=email, notify=notify))
        flush(desk)

    guard(act)


def _mail_line(mailed: bool, reply: ReplyStatus, *, email: str | None, notify: bool | None) -> str:
    """Say whether the person gets a mail, and why not."""
    if mailed:
        what = (
            "a duplicate notice stating their registration" if reply is ReplyStatus.DUPLICATE else "the reply"
        )
        return f"mail: {what} ('{reply.value}') goes to the given address"
    if not email:
        return "no mail: no address given"
    if notify is False:
        return "no mail: --no-notify"
    return "no mail: already registered (--notify sends a duplicate notice stating their registration)"


@click.command()
@click.argument("event_id", metavar="EVENT")
@click.option("--email", help="Cancel the registration of this address.")
@click.option("--id", "registration_id", type=int, help="Cancel registration number N (see `mailbot list`).")
@click.option("--quiet", is_flag=True, help="Send the person no cancellation mail.")
@click.pass_context
def cancel(
    ctx: click.Context, event_id: str, email: str | None, registration_id: int | None, quiet: bool
) -> None:
    """Cancel a registration; the first on the waitlist moves up and is told."""
    event_id = known_event(ctx, event_id)
    if (email is None) == (registration_id is None):
        fail("cancel: give exactly one of --email or --id", 2)

    def act() -> None:
        desk = desk_for(ctx)
        decision, promoted = desk.admin_cancel(
            event_id,
            email=email,
            registration_id=registration_id,
            quiet=quiet,
            actor="admin (mailbot cancel)",
        )
        if decision.reply is ReplyStatus.NOT_REGISTERED:
            fail(f"cancel: no active registration for {email or f'#{registration_id}'} in {event_id}")
        click.echo(f"cancelled arrival no. {decision.position}" + "".join(f"\n{line}" for line in promoted))
        flush(desk)

    guard(act)


@click.command("list")
@click.argument("event_id", metavar="EVENT")
@click.option(
    "--status", type=click.Choice(["confirmed", "waitlisted", "cancelled"]), help="Only this status."
)
@click.pass_context
def list_(ctx: click.Context, event_id: str, status: str | None) -> None:
    """An event's registrations in arrival order: arrival number, status, seat number or waitlist place."""
    config = load(ctx)
    event_id = known_event(ctx, event_id)
    tz = ZoneInfo(config.bot.timezone)

    def show() -> None:
        with open_database(config).transaction() as tx:
            every = tx.registrations(event_id)  # seat and waitlist place count the whole event
            rows = [
                [
                    str(r.id),
                    str(r.position),
                    r.status,
                    f"seat {seat}" if seat else f"waitlist {place}" if place else "",
                    r.name,
                    r.email or "",
                    r.phone or "",
                    r.channel,
                    r.received_at.astimezone(tz).isoformat(timespec="seconds"),
                ]
                for r, (seat, place) in zip(every, places([r.status for r in every]), strict=True)
                if status is None or r.status == status
            ]
        header = ["id", "arrival", "status", "seat/place", "name", "email", "phone", "channel", "received_at"]
        click.echo(render_table(f"{event_id}: {len(rows)} registration(s)", header, rows))

    guard(show)


@click.command("import")
@click.argument("event_id", metavar="EVENT")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
def import_(ctx: click.Context, event_id: str, file: Path) -> None:
    """Import a list typed up from paper (CSV: name;email;phone;received_at); all rows or none."""
    event_id = known_event(ctx, event_id)
    try:
        rows = read_import(file)
    except ImportFileError as exc:
        fail(str(exc), 2)

    def act() -> None:
        desk = desk_for(ctx)
        counts: dict[str, int] = {}
        with desk.db.transaction() as tx:
            for row in progress(rows, len(rows), "importing"):
                decision = desk.admin_register(
                    event_id,
                    name=row.name,
                    email=row.email,
                    phone=row.phone,
                    received_at=row.received_at,
                    channel=Channel.ADMIN,
                    actor=f"import {file.name} line {row.line}",
                    tx=tx,
                ).decision
                counts[decision.reply.value] = counts.get(decision.reply.value, 0) + 1
        click.echo(
            f"imported {len(rows)} row(s): " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
        )
        flush(desk)

    guard(act)


@click.command()
@click.argument("event_id", metavar="EVENT")
@click.option("--email", help="Only this person.")
@click.pass_context
def history(ctx: click.Context, event_id: str, email: str | None) -> None:
    """Every change of the event's registrations: who, what, when, old -> new status."""
    config = load(ctx)
    event_id = known_event(ctx, event_id)
    tz = ZoneInfo(config.bot.timezone)
    checked = addresses().check(email) if email else None
    normalized = checked.normalized if checked else None
    if checked and normalized is None:
        fail(f"history: not a valid email address: {email!r} ({checked.reason})", 2)

    def show() -> None:
        with open_database(config).transaction() as tx:
            entries = tx.history(event_id, normalized)
            for audit, reg in entries:
                who = reg.email or reg.phone or ""
                when = audit.at.astimezone(tz).isoformat(timespec="seconds")
                change = f"{audit.action}: {audit.old_status or '-'} -> {audit.new_status or '-'}"
                click.echo(
                    f"{when}  #{reg.id} {reg.name} <{who}>  {change}  by {audit.actor}"
                    + (f"  ({audit.detail})" if audit.detail else "")
                )
        if not entries:
            click.echo("no changes recorded")

    guard(show)


@click.command("send-access")
@click.argument("event_id", metavar="EVENT")
@click.option("--dry-run", is_flag=True, help="Only list who would get the access data.")
@click.option("--per-minute", default=60, show_default=True, help="Throttle: mails per minute (0: no limit).")
@click.pass_context
def send_access(ctx: click.Context, event_id: str, dry_run: bool, per_minute: int) -> None:
    """Send the access data to every confirmed participant exactly once (resumable after Ctrl-C)."""
    config = load(ctx)
    event_id = known_event(ctx, event_id)
    if not config.event(event_id).access_info:
        fail(f"send-access: event {event_id} has no access_info or access_info_file in the config", 2)

    def act() -> None:
        desk = desk_for(ctx)
        recipients = desk.queue_mailing(event_id, ReplyStatus.ACCESS, dry_run=dry_run)
        if dry_run:
            for address in recipients:
                click.echo(address)
            click.echo(f"{len(recipients)} participant(s) would get the access data", err=True)
            return
        with desk.db.transaction() as tx:
            waiting = tx.pending_replies()
        pace = 60.0 / per_minute if per_minute > 0 else 0.0
        nothing: tuple[int, ...] = ()  # the bar is advanced by the sender, not by iterating
        with progress(nothing, waiting, "sending access data") as bar:
            # Every reply, however long [smtp] max_per_minute makes it take (Ctrl-C: the rest goes later).
            report = desk.flush_outbox(on_sent=bar.advance, pace=pace, wait=math.inf)
        click.echo(
            f"access data: {len(recipients)} newly queued; sent {report.sent}, "
            f"deferred {report.deferred}, failed {report.failed}"
        )
        if report.error or report.paused:
            click.echo(
                "not everything went out yet: run `mailbot send-access` again, or let `mailbot run` "
                "send the rest",
                err=True,
            )
            sys.exit(1)

    try:
        guard(act)
    except KeyboardInterrupt:
        fail("interrupted: run the same command again to send the rest (nobody gets it twice)", 130)


@click.command()
@click.argument("uid", type=int, required=False)
@click.option(
    "--quarantined", "every", is_flag=True, help="Every quarantined or rejected mail still in the folder."
)
@click.pass_context
def retry(ctx: click.Context, uid: int | None, every: bool) -> None:
    """Decide again mails that ended quarantined or rejected (after a fix or a config change).

    A late decision keeps the mail's arrival time (the server's) for the record, but takes no seat back
    from anyone: it gets the next free seat or the end of the waitlist. It is in the ledger and the audit log.
    """
    if (uid is None) != every:
        fail("retry: give a UID or --quarantined (not both)", 2)

    def act() -> None:
        desk = desk_for(ctx)
        results = retry_mails(desk, uid=uid, actor="admin (mailbot retry)")
        for item in results:
            after = f"-> {item.after}" if item.after else "unchanged"
            click.echo(f"uid {item.uid}: {item.before} {after} ({item.reason})")
        click.echo(f"{sum(1 for r in results if r.after)} mail(s) decided again")
        flush(desk)

    guard(act)


COMMANDS = (add, cancel, list_, import_, history, send_access, retry)
