"""The outbox: send due replies (batches, pacing, the hourly and storm breakers), the sent journal's fold."""

from __future__ import annotations

import contextlib
import json
import logging
import string
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta

from mailbot.core import storm
from mailbot.core.records import ClaimedReply
from mailbot.errors import TemporaryDeliveryError
from mailbot.ports import DeliveryResult, OutgoingMail
from mailbot.ports.store import UnitOfWork
from mailbot.redact import mask_addresses
from mailbot.service import alerts
from mailbot.service.context import Context
from mailbot.service.results import FlushReport
from mailbot.service.state_keys import LEADER_CLAIM, PAUSE_REASON, PAUSED_SINCE, THROTTLED

log = logging.getLogger("mailbot")

OUTBOX_BATCH = 500
FIRST_SEND_BATCH = 20  # replies claimed while the server's pace is unknown (see _batch_size)
SEND_LEASE = timedelta(minutes=2)  # a claimed reply is retried after this if its sender died mid-send


def flush_outbox(
    ctx: Context,
    *,
    on_sent: Callable[[], None] | None = None,
    pace: float = 0.0,
    leader: bool = False,
    wait: float | None = None,
) -> FlushReport:
    """Send every due reply over one connection per batch; mark each as the server answers.

    At most `[bot] max_replies_per_hour` replies go out per hour: past it sending pauses (nothing is
    lost, the replies wait), `status` shows it, and the admins get one alert per pause. The pass-runner
    (`leader`, holding the leader lock) records its claim, so the next one can release it after a crash.

    With `[smtp] max_per_minute` the replies go out at that pace, in order; a flush waits for their turn
    at most `wait` seconds (default: one poll interval, so a pass keeps its schedule; 0: not at all;
    math.inf: until every due reply went out, for `send-access`), and the rest waits for the next flush.
    """
    report = FlushReport()
    ctx.pacer.deadline = time.monotonic() + (ctx.config.bot.poll_interval if wait is None else wait)
    try:
        _flush_batches(ctx, report, on_sent=on_sent, pace=pace, leader=leader)
    finally:
        fold_journal(ctx)
    return report


def fold_journal(ctx: Context, *, orphaned: bool = False) -> None:
    """Record the replies in the sent journal in the database (see `_journal_folded`)."""
    with journal_folded(ctx, orphaned=orphaned) as entries:
        if entries:
            with ctx.db.transaction() as tx:
                tx.mark_sent(entries)


@contextlib.contextmanager
def journal_folded(ctx: Context, *, orphaned: bool = False) -> Iterator[list[tuple[int, datetime]]]:
    """The sent journal's entries, for a transaction to record; cleared once it committed.

    Only the process that writes the journal folds it, or the pass-runner at the start of a pass, while
    no sending process of a pass is alive (`orphaned`): a fold clears the file, and a line appended
    between another process's read and its clear would be lost.
    """
    journal = ctx.journal if orphaned or ctx.record_to_journal else None
    entries = journal.entries() if journal is not None else []
    yield entries
    if entries and journal is not None:
        journal.clear()


def _flush_batches(
    ctx: Context, report: FlushReport, *, on_sent: Callable[[], None] | None, pace: float, leader: bool
) -> None:
    per_hour = ctx.config.bot.max_replies_per_hour
    while not ctx.stop.is_set():
        batch = _batch_size(ctx, pace)
        now = ctx.clock()
        held = ""  # why sending pauses now ('' when it does not)
        with journal_folded(ctx) as entries, ctx.db.transaction() as tx:
            tx.mark_sent(entries)  # the last batch's replies, before they count against the hourly limit
            sent_last_hour = tx.sent_since(now - timedelta(hours=1))
            allowed = per_hour - sent_last_hour
            rows = []
            if allowed <= 0:
                held = f"[bot] max_replies_per_hour ({per_hour}) reached"
            else:
                lease_until = now + SEND_LEASE
                rows = tx.claim_due_outbox(now, min(batch, allowed), lease_until)
                rows, held = _storm_check(ctx, tx, now, rows, sent_last_hour)
                if not held and tx.get_state(PAUSED_SINCE):
                    tx.clear_state(PAUSED_SINCE)
                    tx.clear_state(PAUSE_REASON)
                    log.info("sending resumed")
                if leader and rows:
                    claim = {"lease_until": lease_until.isoformat(), "ids": [r.id for r in rows]}
                    tx.set_state(LEADER_CLAIM, json.dumps(claim))
            pending = tx.pending_replies() if held else 0
            mails = [OutgoingMail(r.id, r.envelope_from, r.recipient, r.data) for r in rows]
        if held:
            report.paused = True
            if pending:
                _pause(ctx, now, held, sent_last_hour, pending)
            break
        if not mails:
            break
        started, interval = time.monotonic(), ctx.pacer.interval
        outcome = _send(ctx, mails, {r.id: r.attempts for r in rows}, report, on_sent=on_sent, pace=pace)
        if ctx.pacer.interval > interval:
            _record_throttle(ctx)
        if outcome == "failed":
            break
        ctx.seconds_per_mail = (time.monotonic() - started) / len(mails)
        if outcome == "throttled":
            continue  # the throttled reply and the rest again, at the slower pace
        if outcome == "halted" or len(mails) < batch:
            break  # past the pacer's deadline: the rest goes in the next flush


def _storm_check(
    ctx: Context, tx: UnitOfWork, now: datetime, rows: list[ClaimedReply], sent_last_hour: int
) -> tuple[list[ClaimedReply], str]:
    """The claimed replies that may go before the last hour looks like a storm (core/storm.py), and why
    the rest (given back, due again) may not: '' when all may go. A rush of distinct people all goes."""
    bot = ctx.config.bot
    limits = storm.StormLimits(
        repeats=bot.max_repeat_replies_per_hour, per_domain=bot.max_replies_per_domain_per_hour
    )
    if not rows or limits.cannot_trip(sent_last_hour + len(rows)):
        return rows, ""
    recipients = tx.recipients_of([r.id for r in rows])
    verdict = storm.allowance(
        tx.recipients_sent_since(now - timedelta(hours=1)),
        [recipients.get(r.id, r.recipient.lower()) for r in rows],
        limits,
    )
    if verdict.allowed < len(rows):
        tx.release([r.id for r in rows[verdict.allowed :]], now)
        rows = rows[: verdict.allowed]
    return rows, verdict.reason if not rows else ""


def _batch_size(ctx: Context, pace: float) -> int:
    """How many replies to claim: as many as go out well within the lease (half of it) at the rate seen
    last, or at `pace`; else another sender could claim the rest and send it again. A slow server (shared
    hosting takes a second per mail) gets small batches; the first batch is small until the rate is known.
    """
    per_mail = max(pace, ctx.seconds_per_mail or 0.0, ctx.pacer.interval)
    if per_mail <= 0:
        return FIRST_SEND_BATCH if ctx.seconds_per_mail is None else OUTBOX_BATCH
    return max(1, min(OUTBOX_BATCH, int(SEND_LEASE.total_seconds() / 2 / per_mail)))


def _send(
    ctx: Context,
    mails: Sequence[OutgoingMail],
    attempts: dict[int, int],
    report: FlushReport,
    *,
    on_sent: Callable[[], None] | None,
    pace: float,
) -> str:
    """Send one batch: "sent"; "failed" when the connection failed (the rest is retried later with
    backoff); "throttled" or "halted" when the mailer stopped early (a throttling answer; the pacer's
    deadline): the mails it did not send are due again at once, in their order, no attempt counted.

    `pace` seconds pass between two mails (throttling for `send-access`); `on_sent` ticks a progress bar.
    Interrupted (Ctrl-C), the unsent mails of the batch are released at once for the next run.
    """
    handled: set[int] = set()
    throttled: list[int] = []

    def record(result: DeliveryResult) -> None:
        """Record the answer at once: a crash resends at most the mail in flight per connection."""
        when = ctx.clock()
        if result.throttled:
            # Not the mail's fault: it goes again first once the slower pace allows (core/pacing.py).
            throttled.append(result.outbox_id)
            handled.add(result.outbox_id)
            report.throttled += 1
            log.info("reply %s: the server asks to slow down (%s)", result.outbox_id, result.error)
            return
        _record_answer(ctx, result, when, attempts[result.outbox_id], report)
        handled.add(result.outbox_id)
        if on_sent is not None:
            on_sent()
        if pace:
            ctx.stop.wait(pace)

    try:
        ctx.mailer.send_all(mails, record)
    except (KeyboardInterrupt, SystemExit):
        unsent = [m.outbox_id for m in mails if m.outbox_id not in handled] + throttled
        with ctx.db.transaction() as tx:
            tx.release(unsent, ctx.clock())
        raise
    except TemporaryDeliveryError as exc:
        report.error = str(exc)
        when = ctx.clock()
        with ctx.db.transaction() as tx:
            tx.release(throttled, when)
            for mail in mails:
                if mail.outbox_id not in handled:
                    retry = when + backoff(attempts[mail.outbox_id] + 1)
                    tx.mark_failed(
                        mail.outbox_id, when, mask_addresses(str(exc)), permanent=False, retry_at=retry
                    )
                    report.deferred += 1
        log.warning("sending paused: %s", exc)
        return "failed"
    unsent = [m.outbox_id for m in mails if m.outbox_id not in handled] + throttled
    if unsent:
        with ctx.db.transaction() as tx:
            tx.release(unsent, ctx.clock())
        return "throttled" if throttled else "halted"
    return "sent"


def _record_answer(
    ctx: Context, result: DeliveryResult, when: datetime, attempts: int, report: FlushReport
) -> None:
    """Record the server's answer to one reply: sent, or refused (for good, or retried with backoff)."""
    if result.accepted:
        if ctx.record_to_journal and ctx.journal is not None:
            ctx.journal.append(result.outbox_id, when)
        else:
            ctx.db.mark_sent(result.outbox_id, when)
        report.sent += 1
        return
    with ctx.db.transaction() as tx:
        retry = when + backoff(attempts + 1)
        # The refusal text often quotes the recipient ("550 5.1.1 <name@example.org>: ..."): the row
        # names the recipient anyway, the stored text need not (it reaches logs and alerts).
        error = mask_addresses(result.error)
        tx.mark_failed(result.outbox_id, when, error, permanent=result.permanent, retry_at=retry)
    if result.permanent:
        report.failed += 1
    else:
        report.deferred += 1
    log.warning("reply %s refused: %s", result.outbox_id, result.error)


def _record_throttle(ctx: Context) -> None:
    """The server slowed us down: keep when and to what pace, for `status` (only then: a write from the
    sending process waits for SQLite's lock, which the pass holds most of the time in a rush)."""
    with ctx.db.transaction() as tx:
        state = {"at": ctx.clock().isoformat(), "rate": round(ctx.pacer.rate, 3)}
        tx.set_state(THROTTLED, json.dumps(state))


def backoff(attempt: int) -> timedelta:
    """Retry delay after the n-th failed attempt: 1, 2, 4 ... minutes, at most one hour."""
    return timedelta(minutes=min(60, 2 ** max(0, attempt - 1)))


def _pause(ctx: Context, now: datetime, reason: str, sent: int, pending: int) -> None:
    """Remember the pause and why; the first time, tell the admins by mail (outside the limit, once)."""
    with ctx.db.transaction() as tx:
        if tx.get_state(PAUSED_SINCE):
            return
        tx.set_state(PAUSED_SINCE, now.isoformat())
        tx.set_state(PAUSE_REASON, reason)
    log.warning("sending paused: %s; %s waiting", reason, pending)
    body = string.Template(ctx.reply_settings.templates["alert-paused"]).safe_substitute(
        reason=reason, sent=sent, limit=ctx.config.bot.max_replies_per_hour, pending=pending
    )
    alerts.mail_admins(ctx, "mailbot: Versand pausiert / sending paused", body, now)
