"""`mailbot web`: serve the staff console (loopback:8080 by default; a TLS reverse proxy in front)."""

from __future__ import annotations

import click

from mailbot.cli.common import guard, load
from mailbot.web.serve import serve


@click.command()
@click.option("--host", metavar="H", help="Address to listen on (default: [web] host, 127.0.0.1).")
@click.option("--port", metavar="P", type=click.IntRange(1, 65535), help="Port (default: [web] port, 8080).")
@click.pass_context
def web(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Serve the staff console until SIGTERM/SIGINT (beside `mailbot run`, on the same database)."""
    config = load(ctx)
    host = host or config.web.host
    port = port or config.web.port
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"mailbot web: staff console on http://{shown}:{port}/ (SIGTERM or Ctrl+C ends it)", err=True)
    guard(lambda: serve(config, host, port))


COMMANDS = (web,)
