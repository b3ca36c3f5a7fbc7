"""Log lines: one format for mailbot and its libraries, the time with its zone, every address masked."""

from __future__ import annotations

import logging
import sys
from datetime import datetime, tzinfo

from mailbot.redact import hide_sql, mask_addresses

__all__ = ["LineFormatter", "configure_logging", "set_zone"]

_OURS = "mailbot"


class LineFormatter(logging.Formatter):
    """``2026-10-08T18:00:05.123+02:00 INFO message``: ISO 8601 with the UTC offset, in the desk's zone.

    The same zone and offset as `mailbot status` shows, so a clerk can match the two. The whole line is
    masked (message, arguments, a library's text, a traceback): an SMTP refusal or a bounce diagnostic
    quoting ``<name@example.org>`` is logged as ``n***@example.org``; SQL statements and their parameters
    are cut from tracebacks. The message itself is kept on one line (a mail's text can't forge a log line).
    """

    def __init__(self, zone: tzinfo | None = None) -> None:
        super().__init__()
        self.zone = zone  # None: the machine's local time (before the config is read)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: ARG002
        """The record's time as ISO 8601 with milliseconds and the UTC offset."""
        moment = datetime.fromtimestamp(record.created, self.zone) if self.zone else None
        if moment is None:
            moment = datetime.fromtimestamp(record.created).astimezone()
        return moment.isoformat(timespec="milliseconds")

    def format(self, record: logging.LogRecord) -> str:
        """One line (plus a traceback, if any), masked."""
        message = record.getMessage().replace("\r", "\\r").replace("\n", "\\n")
        name = record.name
        if name != _OURS and not name.startswith(_OURS + "."):
            message = f"{name}: {message}"  # a library's line says whose it is
        line = f"{self.formatTime(record)} {record.levelname} {message}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info).rstrip("\n")
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return mask_addresses(hide_sql(line))


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler mailbot installs on the root logger (marked so a second call replaces it, not adds one)."""


def configure_logging(verbose: bool, zone: tzinfo | None = None) -> None:
    """Every log line to stderr in one format: mailbot's from INFO (DEBUG with -v), libraries' from WARNING.

    Libraries stay quiet below WARNING (their debug output can carry mail content); their warnings and
    errors (APScheduler, psycopg, SQLAlchemy) go through the same formatter, masked and with the zone.
    """
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(handler)
    handler = _Handler(sys.stderr)
    handler.setFormatter(LineFormatter(zone))
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    ours = logging.getLogger(_OURS)
    ours.handlers[:] = []
    ours.setLevel(logging.DEBUG if verbose else logging.INFO)
    ours.propagate = True


def set_zone(zone: tzinfo) -> None:
    """Write log times in this zone from now on (the config's `[bot] timezone`, once it is read)."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, _Handler) and isinstance(handler.formatter, LineFormatter):
            handler.formatter.zone = zone
