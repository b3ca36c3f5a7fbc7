"""The command line: parse arguments, call the service, print; no logic of its own."""

from __future__ import annotations

import gc
import json
import logging
import os
import sys
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn
from zoneinfo import ZoneInfo

import click

from mailbot.config import Config, load_config, resolve_config_path
from mailbot.demo.run import run_demo
from mailbot.demo.servers import missing_extra
from mailbot.errors import ConfigError, MailbotError
from mailbot.logs import configure_logging, set_zone
from mailbot.redact import describe_error

if TYPE_CHECKING:
    from mailbot.scheduler import Closeable
    from mailbot.watchdog import Watchdog

log = logging.getLogger("mailbot")


def _fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"mailbot: {' '.join(message.split())}", err=True)
    sys.exit(code)


def _config(ctx: click.Context) -> Config:
    """Load the configuration once; a bad one exits 2 with one line naming the file and key."""
    obj: dict[str, Any] = ctx.ensure_object(dict)
    if "config" not in obj:
        path = resolve_config_path(obj.get("config_path"), os.environ)
        try:
            obj["config"] = load_config(path, os.environ)
        except ConfigError as exc:
            click.echo(str(exc), err=True)
            sys.exit(2)
        set_zone(obj["config"].bot.zone)  # log times from now on as `status` shows times
    config: Config = obj["config"]
    return config


def _guard(action: Callable[[], None]) -> None:
    """Run an action; expected failures (server down, bad data) become one clear line and exit 1."""
    try:
        action()
    except MailbotError as exc:
        _fail(str(exc))
    except Exception as exc:
        log.debug("failure", exc_info=True)
        _fail(describe_error(exc))


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


@cli.command()
@click.option("--once", is_flag=True, help="One pass (all new mail, all due replies), then exit.")
@click.pass_context
def run(ctx: click.Context, once: bool) -> None:
    """Book registrations and send replies as mail arrives (IMAP IDLE; polling as a safety net).

    Runs until SIGTERM/SIGINT, finishing the message in hand.
    """
    config = _config(ctx)
    stop = threading.Event()
    sender = None
    if config.smtp.sender_process:
        # Started first, in the main thread (it dies with it): the child imports its modules on the other
        # core while this process imports its own and opens the database.
        from mailbot.sender import SenderProcess  # noqa: PLC0415

        sender = SenderProcess(config, verbose=ctx.obj["verbose"], stop=stop).start()
    from mailbot.adapters.imap import PreparedMailbox  # noqa: PLC0415

    # The first pass's IMAP login and SELECT wait on the server while this process loads the rest.
    prepared = PreparedMailbox(config.imap) if config.imap.oauth is None else None
    try:
        from mailbot.bootstrap import build_desk  # noqa: PLC0415 (keep `--help` fast)
        from mailbot.watchdog import Watchdog  # noqa: PLC0415

        def build() -> None:
            ctx.obj["desk"] = build_desk(config, stop=stop, prepared=prepared)

        _guard(build)
        desk = ctx.obj["desk"]
        if sender is not None and desk.db.in_memory:  # no other process can see this database
            sender.close()
            sender = None
        desk.background = sender
        gc.freeze()  # what is loaded and wired now lives as long as the process: the cyclic GC skips it
        _run(config, Watchdog(desk, once=once), stop, once=once)
    finally:
        if prepared is not None:
            prepared.close()
        if sender is not None:
            sender.close()


def _run(config: Config, watchdog: Watchdog, stop: threading.Event, *, once: bool) -> None:
    """`run`'s loop: one pass and exit, or passes until a stop signal."""
    if once:

        def one_pass() -> None:
            result = watchdog.run_pass()
            if result.error:
                _fail(result.error)
            report, flush = result.report, result.flush
            assert report is not None
            assert flush is not None
            click.echo(
                f"processed {report.total} message(s) {json.dumps(report.outcomes)}; "
                f"replies sent {flush.sent}, deferred {flush.deferred}, failed {flush.failed}"
            )
            if flush.error:
                _fail(f"replies not sent: {flush.error}")

        _guard(one_pass)
        return

    from mailbot.scheduler import run_forever  # noqa: PLC0415

    def job() -> bool:
        """One pass; False when it failed (the scheduler backs off). SMTP trouble doesn't slow the polling:
        bookings go on, and the outbox retries each reply with its own backoff."""
        result = watchdog.run_pass()
        if result.failed:
            log.error("pass failed (%s in a row): %s", result.failures, result.reason)
        report, flush = result.report, result.flush
        total = report.total if report else 0
        if total or (flush and (flush.sent or flush.deferred or flush.failed)):
            log.info(
                "pass: %s messages %s; replies sent %s, deferred %s, failed %s",
                total,
                json.dumps(report.outcomes if report else {}),
                flush.sent if flush else 0,
                flush.deferred if flush else 0,
                flush.failed if flush else 0,
            )
        return not result.error

    log.info("mailbot running: polling %s every %ss", config.imap.folder, config.bot.poll_interval)
    moments = [e.send_access_at for e in config.events if e.send_access_at] + [
        e.starts_at - e.reminder_before for e in config.events if e.reminder_before
    ]
    run_forever(
        job, config.bot.poll_interval, stop, moments, watch=_idle_watch(config) if config.imap.idle else None
    )
    log.info("mailbot stopped")


def _idle_watch(config: Config) -> Callable[[Callable[[], None]], Closeable]:
    """Starts the IMAP IDLE watcher (RFC 2177) for `run`: new mail wakes the scheduler at once."""
    from mailbot.adapters.imap import IdleWatcher  # noqa: PLC0415
    from mailbot.bootstrap import imap_token  # noqa: PLC0415

    imap = config.imap
    token = imap_token(config)  # its own cache: the watcher's thread logs in apart from the passes

    def watch(wake: Callable[[], None]) -> Closeable:
        return IdleWatcher(
            host=imap.host,
            port=imap.port,
            security=imap.security,
            username=imap.username,
            password=imap.password,
            folder=imap.folder,
            timeout=imap.timeout,
            wake=wake,
            cafile=imap.ca_file,
            poll_interval=config.bot.poll_interval,
            token=token,
        ).start()

    return watch


@cli.command()
@click.pass_context
def status(ctx: click.Context) -> None:
    """Every event in a table (capacity, confirmed, free, waitlisted, replies); last poll; warnings."""
    from mailbot.bootstrap import open_database  # noqa: PLC0415
    from mailbot.reports import status_text  # noqa: PLC0415

    config = _config(ctx)
    _guard(lambda: click.echo(status_text(open_database(config), config)))


@cli.command()
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
    from mailbot.adapters.exports.csv_export import encode_for_excel, render_csv  # noqa: PLC0415
    from mailbot.bootstrap import open_database  # noqa: PLC0415

    if fmt == "xlsx" and output is None:
        _fail("export: --format xlsx needs -o FILE (a workbook is not written to the terminal)", 2)
    config = _config(ctx)
    if event_id is not None and event_id not in {e.id for e in config.events}:
        _fail(f"export: unknown event {event_id!r} (configured: {', '.join(e.id for e in config.events)})", 2)

    def write() -> None:
        db = open_database(config)
        with db.transaction() as tx:
            rows = tx.export_rows(event_id)
        tz = ZoneInfo(config.bot.timezone)
        if fmt == "xlsx":
            from mailbot.adapters.exports.xlsx_export import render_xlsx  # noqa: PLC0415 (openpyxl loads slowly)

            events = [config.event(event_id)] if event_id is not None else list(config.events)
            data = render_xlsx(rows, events, tz, datetime.now(tz))
        else:
            data = encode_for_excel(render_csv(rows, tz, delimiter))
        if output is None:
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
        else:
            write_private(output, data)
            click.echo(f"{len(rows)} registration(s) written to {output}", err=True)

    _guard(write)


def write_private(path: Path, data: bytes) -> None:
    """Write a file only its owner can read (it holds personal data)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(path, 0o600)


@cli.command()
@click.argument("key")
@click.pass_context
def inspect(ctx: click.Context, key: str) -> None:
    """Explain what happened to a message: by UID or Message-ID."""
    from mailbot.bootstrap import open_database  # noqa: PLC0415
    from mailbot.reports import inspect_text  # noqa: PLC0415

    config = _config(ctx)

    def show() -> None:
        text = inspect_text(open_database(config), key, ZoneInfo(config.bot.timezone))
        if not text:
            _fail(f"inspect: no message {key!r} in the ledger")
        click.echo(text)

    _guard(show)


@cli.command()
@click.pass_context
def triage(ctx: click.Context) -> None:
    """Messages staff should look at: quarantined, too large, not answered, bounced; failed replies."""
    from mailbot.bootstrap import open_database  # noqa: PLC0415
    from mailbot.reports import triage_text  # noqa: PLC0415

    config = _config(ctx)
    _guard(lambda: click.echo(triage_text(open_database(config), ZoneInfo(config.bot.timezone))))


@cli.group()
def db() -> None:
    """Database maintenance."""


@db.command()
@click.pass_context
def upgrade(ctx: click.Context) -> None:
    """Migrate the database schema to the newest version (also done on every start)."""
    from mailbot.bootstrap import open_database  # noqa: PLC0415

    config = _config(ctx)

    def migrate() -> None:
        open_database(config).dispose()
        click.echo("database is up to date")

    _guard(migrate)


@cli.command()
@click.option(
    "--dir",
    "workdir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep the demo's database and CSV here (default: a temporary directory).",
)
@click.option("--messages", default=100, show_default=True, help="How many mails to put into the inbox.")
@click.pass_context
def demo(ctx: click.Context, workdir: Path | None, messages: int) -> None:
    """Run the whole desk once on embedded IMAP and SMTP servers (loopback) with ~100 sample mails."""
    missing = missing_extra()
    if missing is not None:
        click.echo(f"mailbot demo: {missing}", err=True)
        ctx.exit(2)
    if not ctx.obj.get("verbose"):
        log.setLevel(logging.WARNING)  # the per-message lines would drown the summary; -v shows them
    _guard(lambda: run_demo(workdir, messages, click.echo))


def _register_admin_commands() -> None:
    """The admin and hotline commands live in cli_admin (they import this module's helpers)."""
    from mailbot.cli_admin import COMMANDS  # noqa: PLC0415
    from mailbot.cli_health import COMMANDS as HEALTH_COMMANDS  # noqa: PLC0415
    from mailbot.cli_privacy import COMMANDS as PRIVACY_COMMANDS  # noqa: PLC0415

    for command in (*COMMANDS, *HEALTH_COMMANDS, *PRIVACY_COMMANDS):
        cli.add_command(command)


_register_admin_commands()


def main() -> None:
    """Console entry point."""
    cli(obj={})
