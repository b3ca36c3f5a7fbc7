"""Text reports for admins: the status table, a message's trail through the ledger, what to triage."""

from __future__ import annotations

import json
import shutil
import textwrap
from datetime import datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from mailbot.config import Config
from mailbot.ports.store import Store
from mailbot.ports.tables import RenderTable
from mailbot.service.state_keys import LAST_POLL, PAUSE_REASON, PAUSED_SINCE, THROTTLED

# `status` fits a terminal this wide; an 80-column one too while event ids have at most 20 characters.
STATUS_WIDTH = 100
# The first cell of the placeholder row that becomes an event's title line ("#" is in no event id).
_TITLE_ROW = "#"


def status_text(
    db: Store,
    config: Config,
    render_table: RenderTable,
    *,
    color: bool | None = None,
    width: int | None = None,
) -> str:
    """Per event: capacity, confirmed, free seats, waitlisted, replies pending/failed; last poll; warnings.

    Two lines per event: the id and the numbers, then, indented, the title and the local start. No line is
    wider than ``width`` (default: the terminal's width, at most STATUS_WIDTH). The caller renders the table.
    """
    tz = ZoneInfo(config.bot.timezone)
    with db.transaction() as tx:
        summaries = {s.event_id: s for s in tx.summaries()}
        last_poll = tx.get_state(LAST_POLL)
        paused = tx.get_state(PAUSED_SINCE)
        pause_reason = tx.get_state(PAUSE_REASON)
        queued = tx.pending_replies()
        throttled = json.loads(tx.get_state(THROTTLED) or "{}")
        ledger = tx.ledger_counts()
    width = min(width or shutil.get_terminal_size((STATUS_WIDTH, 24)).columns, STATUS_WIDTH)
    rows: list[list[str | int]] = []
    titles: list[str] = []
    warnings = []
    for event in config.events:
        s = summaries.get(event.id)
        confirmed = s.confirmed if s else 0
        rows.append(
            [
                event.id,
                event.capacity,
                confirmed,
                max(0, event.capacity - confirmed),
                s.waitlisted if s else 0,
                s.replies_pending if s else 0,
                s.replies_failed if s else 0,
                s.undeliverable if s else 0,
            ]
        )
        starts = event.starts_at.astimezone(tz).strftime("%Y-%m-%d %H:%M")
        titles.append(_fit(f"  {event.title}, {starts}", width))
        rows.append([f"{_TITLE_ROW}{len(titles) - 1}", "", "", "", "", "", "", ""])
        if confirmed > event.capacity:
            warnings.append(
                f"warning: {event.id} has {confirmed} confirmed but capacity {event.capacity} "
                "(lowering the capacity un-confirms nobody; it only stops new confirmations)"
            )
        if s and s.replies_failed:
            warnings.append(f"warning: {event.id}: {s.replies_failed} reply(ies) failed permanently")
        if s and s.undeliverable:
            warnings.append(f"warning: {event.id}: {s.undeliverable} registration(s) whose reply bounced")
    # Short headers, two lines where needed: the numbers stay narrow, the title gets a line of its own.
    header = [
        "event",
        "seats",
        "confirmed",
        "free",
        "waiting",
        "replies\npending",
        "replies\nfailed",
        "bounced",
    ]
    table = render_table(f"events (times in {config.bot.timezone})", header, rows, color=color, width=width)
    out = [_title_lines(table, titles), ""]
    when = _local(last_poll, tz) if last_poll else "never"
    out.append(f"last successful poll: {when}")
    if paused:
        reason = pause_reason or f"[bot] max_replies_per_hour ({config.bot.max_replies_per_hour}) reached"
        out.append(
            f"SENDING PAUSED since {_local(paused, tz)}: {reason}; replies wait and resume by themselves"
        )
    if queued or config.smtp.max_per_minute:
        rate = float(config.smtp.max_per_minute)
        now = datetime.now(tz)
        if throttled and now - datetime.fromisoformat(throttled["at"]) < THROTTLE_MEMORY:
            rate = float(throttled["rate"])  # slowed down lately: the pace recovers within minutes
        out.append(_queue_line(queued, rate, config.smtp.max_per_minute))
    if ledger:
        # A count stays with its name when the line wraps (\0 holds the space until then).
        out.append("messages in the ledger: " + ", ".join(f"{k}\0{v}" for k, v in sorted(ledger.items())))
    out += warnings
    return "\n".join(out[:2] + [_fit(line, width).replace("\0", " ") for line in out[2:]])


def _title_lines(table: str, titles: list[str]) -> str:
    """The table with each event's placeholder row replaced by its title line."""
    lines = []
    for line in table.splitlines():
        cell = line.strip()
        lines.append(titles[int(cell[1:])] if cell.startswith(_TITLE_ROW) and cell[1:].isdigit() else line)
    return "\n".join(lines)


def _fit(line: str, width: int) -> str:
    """A line wrapped to `width` columns (continuation lines indented like the first, plus two)."""
    if len(line) <= width:
        return line
    indent = " " * (len(line) - len(line.lstrip()) + 2)
    return "\n".join(textwrap.wrap(line, width, subsequent_indent=indent, break_on_hyphens=False))


THROTTLE_MEMORY = timedelta(minutes=10)  # a throttle longer ago than this no longer slows the estimate


def _queue_line(queued: int, rate: float, configured: int) -> str:
    """The replies waiting, and about when the last goes out at the pace now ([smtp] max_per_minute)."""
    line = f"replies queued: {queued}"
    if not rate or not queued:
        return line + (f" (paced: at most {configured} per minute)" if configured else "")
    seconds = round(queued * 60 / rate)
    minutes = round(seconds / 60)
    eta = f"{seconds} s" if seconds < 60 else f"{minutes // 60} h {minutes % 60} min".removeprefix("0 h ")
    line += f"; the last goes out in about {eta} at {rate:g} per minute"
    if configured and rate < configured:
        line += f" (slowed down by the server's throttling answers; [smtp] max_per_minute = {configured})"
    elif configured:
        line += " ([smtp] max_per_minute)"
    else:
        line += " (slowed down by the server's throttling answers)"
    return line


def _local(iso: str, tz: tzinfo) -> str:
    return datetime.fromisoformat(iso).astimezone(tz).isoformat(timespec="seconds")


def inspect_text(db: Store, key: str, tz: tzinfo) -> str:
    """Every ledger entry for a UID or Message-ID: when, verdict, reason, and each rule that hit."""
    with db.transaction() as tx:
        entries = tx.ledger_entries(key)
        out = []
        for e in entries:
            mid = e.message_id or "(no Message-ID)"
            out.append(f"message {e.folder} uidvalidity {e.uidvalidity} uid {e.uid} {mid}")
            out.append(f"  arrived:   {e.internaldate.astimezone(tz).isoformat(timespec='seconds')}")
            out.append(f"  processed: {e.processed_at.astimezone(tz).isoformat(timespec='seconds')}")
            out.append(f"  subject:   {e.subject or ''}")
            out.append(f"  intent:    {e.intent or '-'}")
            out.append(f"  outcome:   {e.outcome}" + (f" ({e.reason})" if e.reason else ""))
            for rule, reason in json.loads(e.rule_hits or "[]"):
                out.append(f"  rule hit:  {rule}: {reason}")
    return "\n".join(out)


# What staff should look at in their mail client: the bot left these alone or could not answer.
TRIAGE_OUTCOMES = ("quarantined", "too-large", "rejected", "held", "machine", "bounce")


def triage_text(db: Store, tz: tzinfo) -> str:
    """Messages quarantined, too large, not answered (machines, limits) or bounced; failed replies."""
    lines = []
    with db.transaction() as tx:
        for e in tx.triage(TRIAGE_OUTCOMES):
            when = e.internaldate.astimezone(tz).isoformat(timespec="seconds")
            lines.append(
                f"{when}  uid {e.uid:<6} {e.outcome:<13} {e.sender or '(no sender)'}  "
                f"{(e.subject or '')[:60]!r}  -- {e.reason}"
            )
        failed = tx.failed_replies()
        for row in failed:
            lines.append(f"reply #{row.id} to {row.recipient} ({row.kind}) failed: {row.last_error}")
    if not lines:
        return "nothing to triage"
    return "\n".join(lines)
