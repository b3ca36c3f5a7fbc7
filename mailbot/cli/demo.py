"""`mailbot demo`: the whole desk once on embedded servers, then (with --web) the console on its data."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from mailbot.cli.common import guard
from mailbot.cli.render import render_table
from mailbot.config import Config
from mailbot.demo.login import console_config, demo_login
from mailbot.demo.run import run_demo
from mailbot.demo.servers import free_port, missing_extra
from mailbot.web.serve import serve

log = logging.getLogger("mailbot")


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
    guard(lambda: run_demo(workdir, messages, click.echo, then, render_table=render_table))


def _serve_demo(demo: Config, port: int) -> None:
    """The console on the demo's data, on loopback, with a one-time admin login made for this run."""
    config = console_config(demo, port)
    name, password = demo_login(config)
    click.echo("")
    click.echo(f"staff console: http://127.0.0.1:{port}/  (Ctrl+C ends it and the demo)")
    click.echo(f"  one-time login: {name} / {password}  (role admin; made for this run)")
    click.echo("  the second factor is off for the demo only ([web] require_second_factor = [])")
    guard(lambda: serve(config, config.web.host, port))


COMMANDS = (demo,)
