"""What every command shares: the configuration loaded once, one-line failures, the desk, private files."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import click

from mailbot.bootstrap import build_desk
from mailbot.config import Config, load_config, resolve_config_path
from mailbot.errors import ConfigError, MailbotError
from mailbot.logs import set_zone
from mailbot.redact import describe_error
from mailbot.service import Desk

log = logging.getLogger("mailbot")


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one line `mailbot: ...` to stderr and exit with `code`."""
    click.echo(f"mailbot: {' '.join(message.split())}", err=True)
    sys.exit(code)


def load(ctx: click.Context) -> Config:
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


def known_event(ctx: click.Context, event_id: str, prefix: str = "") -> str:
    """The event id if it is configured; else exit 2 with one line listing the configured ones."""
    config = load(ctx)
    if event_id not in {e.id for e in config.events}:
        fail(f"{prefix}unknown event {event_id!r} (configured: {', '.join(e.id for e in config.events)})", 2)
    return event_id


def guard(action: Callable[[], object]) -> None:
    """Run an action; expected failures (server down, bad data) become one clear line and exit 1."""
    try:
        action()
    except MailbotError as exc:
        fail(str(exc))
    except Exception as exc:
        log.debug("failure", exc_info=True)
        fail(describe_error(exc))


def write_private(path: Path, data: bytes) -> None:
    """Write a file only its owner can read (it holds personal data)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(path, 0o600)


def desk_for(ctx: click.Context) -> Desk:
    """The desk of the configuration, for one command."""
    return build_desk(load(ctx))


def flush(desk: Desk, quiet: bool = False) -> None:
    """Send what was queued now; an unreachable SMTP server only delays it to the bot's next pass."""
    report = desk.flush_outbox()
    if report.error and not quiet:
        click.echo(f"mails queued, not sent yet ({report.error}); `mailbot run` sends them later", err=True)
