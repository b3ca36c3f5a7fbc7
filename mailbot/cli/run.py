"""`mailbot run` (passes as mail arrives, or one with --once) and `mailbot demo`."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

import click

from mailbot.bootstrap import Runtime
from mailbot.cli.common import fail, guard, load
from mailbot.config import Config
from mailbot.demo.login import console_config, demo_login
from mailbot.demo.run import run_demo
from mailbot.demo.servers import free_port, missing_extra
from mailbot.service.watchdog import Watchdog
from mailbot.web.serve import serve

log = logging.getLogger("mailbot")


@click.command()
@click.option("--once", is_flag=True, help="One pass (all new mail, all due replies), then exit.")
@click.pass_context
def run(ctx: click.Context, once: bool) -> None:
    """Book registrations and send replies as mail arrives (IMAP IDLE; polling as a safety net).

    Runs until SIGTERM/SIGINT, finishing the message in hand.
    """
    config = load(ctx)
    with Runtime(config, verbose=ctx.obj["verbose"], stop=threading.Event()) as runtime:
        guard(lambda: runtime.build(once=once))
        watchdog = runtime.watchdog
        if once:
            guard(lambda: _one_pass(watchdog))
            return
        log.info("mailbot running: polling %s every %ss", config.imap.folder, config.bot.poll_interval)
        runtime.serve(lambda: _pass(watchdog))
        log.info("mailbot stopped")


def _one_pass(watchdog: Watchdog) -> None:
    """`run --once`: one pass, its outcome in one line; a failed pass or unsent replies exit 1."""
    result = watchdog.run_pass()
    if result.error:
        fail(result.error)
    report, flush = result.report, result.flush
    assert report is not None
    assert flush is not None
    click.echo(
        f"processed {report.total} message(s) {json.dumps(report.outcomes)}; "
        f"replies sent {flush.sent}, deferred {flush.deferred}, failed {flush.failed}"
    )
    if flush.error:
        fail(f"replies not sent: {flush.error}")


def _pass(watchdog: Watchdog) -> bool:
    """One scheduled pass, logged; False when it failed (the scheduler backs off).

    SMTP trouble doesn't slow the polling: bookings go on, and the outbox retries each reply with its own
    backoff.
    """
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


@click.command()
@click.option(
    "--dir",
    "workdir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep the demo's database and CSV here (default: a temporary directory).",
)
@click.option("--messages", default=100, show_default=True, help="How many mails to put into the inbox.")
@click.option("--web", is_flag=True, help="Then serve the staff console on the demo's data (loopback).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port of the console (--web; default: free).")
@click.pass_context
def demo(ctx: click.Context, workdir: Path | None, messages: int, web: bool, port: int | None) -> None:
    """Run the whole desk once on embedded IMAP and SMTP servers (loopback) with ~100 sample mails."""
    missing = missing_extra()
    if missing is not None:
        click.echo(f"mailbot demo: {missing}", err=True)
        ctx.exit(2)
    if not ctx.obj.get("verbose"):
        log.setLevel(logging.WARNING)  # the per-message lines would drown the summary; -v shows them
    then = (lambda config: _serve_demo(config, port or free_port("127.0.0.1"))) if web else None
    guard(lambda: run_demo(workdir, messages, click.echo, then))


def _serve_demo(demo: Config, port: int) -> None:
    """The console on the demo's data, on loopback, with a one-time admin login made for this run."""
    config = console_config(demo, port)
    name, password = demo_login(config)
    click.echo("")
    click.echo(f"staff console: http://127.0.0.1:{port}/  (Ctrl+C ends it and the demo)")
    click.echo(f"  one-time login: {name} / {password}  (role admin; made for this run)")
    click.echo("  the second factor is off for the demo only ([web] require_second_factor = [])")
    guard(lambda: serve(config, config.web.host, port))


COMMANDS = (run, demo)
