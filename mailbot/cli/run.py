"""`mailbot run`: passes as mail arrives, or one with --once."""

from __future__ import annotations

import json
import logging
import threading

import click

from mailbot.bootstrap import Runtime
from mailbot.cli.common import fail, guard, load
from mailbot.service.watchdog import Watchdog

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


COMMANDS = (run,)
