"""The pass: every new mail in order of arrival, decided batch by batch, flagged after the commit."""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from mailbot.core.faults import environment_fault
from mailbot.core.model import Arrival, InboundMessage, Outcome
from mailbot.errors import EnvironmentFault, MailbotError
from mailbot.ports import Mailbox, MailboxInfo, MessageMeta, batched_by_bytes
from mailbot.ports.store import BufferedWriteError
from mailbot.service import boundary, mailings, outbox, readahead, registrations
from mailbot.service.context import Context
from mailbot.service.intents import REPLY_LIMIT_WINDOW
from mailbot.service.privacy import retention
from mailbot.service.readahead import ReadAhead
from mailbot.service.recognition import Known
from mailbot.service.results import FlushReport, PassReport
from mailbot.service.state_keys import LAST_POLL, LEADER_CLAIM

log = logging.getLogger("mailbot")

PROCESSED_KEYWORD = "$MailbotProcessed"
BODY_BATCH = 100  # mails read at once at most; `[bot] batch_bytes` bounds their bytes
# How long a batch's transaction may go on deciding mail (SQLite: holding the one write lock) before it
# commits and the rest of the batch goes on in a new transaction, after a pause longer than SQLite's longest
# busy-handler sleep (100 ms), so an admin command waiting for the lock gets its turn. One mail's decision
# is bounded by its size (no super-linear reading), so a waiting admin command waits about a second.
LOCK_BUDGET_SECONDS = 1.0
LOCK_PAUSE_SECONDS = 0.15
# Registration mails are marked/moved after the commit; everything else stays exactly as it was.
_FLAG_OUTCOMES = tuple(
    o.value
    for o in (
        Outcome.REGISTERED,
        Outcome.DUPLICATE,
        Outcome.CANCELLED,
        Outcome.CANCEL_REQUESTED,
        Outcome.STATUS,
        Outcome.NOT_REGISTERED,
        Outcome.OUTSIDE_WINDOW,
    )
)
# The verdicts `mailbot retry` decides again (retry.py): the mail's own fault, perhaps fixed since.
RETRYABLE = (Outcome.QUARANTINED.value, Outcome.REJECTED.value)


def run_once(ctx: Context) -> tuple[PassReport, FlushReport]:
    """One pass (all new mail, all due replies); skipped while another process holds the leader lock."""
    if not ctx.use_leader_lock:
        return _poll_and_send(ctx, leader=False)
    with ctx.db.leader() as leader:
        if not leader:
            log.info("another mailbot process is running a pass on this database: skipped")
            return PassReport(skipped=True), FlushReport()
        release_orphaned_claim(ctx)
        return _poll_and_send(ctx, leader=True)


def _poll_and_send(ctx: Context, *, leader: bool) -> tuple[PassReport, FlushReport]:
    """Poll, sending the replies of each batch as soon as it is committed.

    In a rush the first citizens have their answer within seconds, not after the whole mailbox. With a
    `background` sender (`mailbot run`: another process, another core) the pass reads on while the batch's
    replies go out, and ends once they are out; else it sends them itself before it reads the next batch.
    (A sender *thread* was measured slower: it contends with the pass for the GIL.) SMTP trouble or the
    hourly limit stops sending for the rest of the pass; the bookings go on, and the next pass sends
    what waits.
    """
    background = ctx.background
    if background is not None:
        # Another process sends while this one reads on; the pass ends once it has sent what is due.
        ctx.committed = lambda: background.request(leader)
        try:
            report = poll_once(ctx)
        except BaseException:
            ctx.committed = None
            with contextlib.suppress(Exception):  # the pass's own failure is the one to report
                background.finish(leader)  # nothing may go out once the pass (and its lock) has ended
            raise
        ctx.committed = None
        return report, background.finish(leader)
    total = FlushReport()

    def send(wait: float | None = 0.0) -> None:
        # Between batches only what is due by [smtp] max_per_minute now: reading goes on meanwhile.
        if not (total.stopped or ctx.stop.is_set()):
            total.add(outbox.flush_outbox(ctx, leader=leader, wait=wait))

    ctx.committed = send
    try:
        report = poll_once(ctx)
    finally:
        ctx.committed = None
    send(wait=None)  # the rest: replies of mails answered by admins, promotions, retries that came due
    return report, total


def release_orphaned_claim(ctx: Context) -> None:
    """Replies the last pass-runner claimed and never finished are due now, not after SEND_LEASE.

    We hold the leader lock, so no other pass is sending: the pass that made the claim has ended, or died
    mid-send (SIGKILL, power loss) and its lease protects nobody. Claims of admin commands (they flush
    without the lock) are never recorded here, and a reply changed since the claim keeps its state.
    """
    # Replies a killed sending process had sent are sent, not orphaned.
    outbox.fold_journal(ctx, orphaned=True)
    with ctx.db.transaction() as tx:
        claim = tx.get_state(LEADER_CLAIM)
        if claim is None:
            return
        data = json.loads(claim)
        lease_until = datetime.fromisoformat(data["lease_until"])
        released = tx.release_claim(data["ids"], lease_until, ctx.clock())
        tx.clear_state(LEADER_CLAIM)
    if released:
        log.warning("%s reply(ies) claimed by an interrupted pass are due again", released)


def poll_once(ctx: Context) -> PassReport:
    """Process every message not processed before, in order of arrival (INTERNALDATE, then UID)."""
    report = PassReport()
    with ctx.db.transaction() as tx:
        tx.sync_events(ctx.config.events)
    registrations.promote_all(ctx)
    mailings.scheduled_mailings(ctx)
    # DSGVO retention, due events only
    retention.purge_due(ctx.db, ctx.config.events, ctx.clock(), addresses=ctx.addresses)
    mailbox = ctx.mailbox_factory()
    try:
        info = mailbox.select(ctx.config.imap.folder)
        # Finish what a crash interrupted: committed registration mails not yet marked/moved.
        with ctx.db.transaction() as tx:
            leftover = tx.unflagged_uids(info.folder, info.uidvalidity, _FLAG_OUTCOMES)
        existing = set(mailbox.list_uids())
        _flag(
            ctx,
            mailbox,
            info.folder,
            info.uidvalidity,
            info.keywords_allowed,
            [u for u in leftover if u in existing],
        )
        with ctx.db.transaction() as tx:
            done = tx.processed_uids(info.folder, info.uidvalidity)
        new = sorted(existing - done)
        metas = sorted(mailbox.fetch_meta(new), key=lambda m: (m.internaldate, m.uid))
        bot = ctx.config.bot
        for batch in batched_by_bytes(metas, BODY_BATCH, bot.batch_bytes, bot.max_message_bytes):
            to_flag = _process_batch(ctx, mailbox, info.folder, info.uidvalidity, batch, report)
            _flag(ctx, mailbox, info.folder, info.uidvalidity, info.keywords_allowed, to_flag)
            if ctx.committed is not None:
                ctx.committed()  # the batch's replies go out before the next batch is read
            if ctx.stop.is_set():
                report.stopped_early = True
                break
        with ctx.db.transaction() as tx:
            tx.set_state(LAST_POLL, ctx.clock().isoformat())
    finally:
        mailbox.close()
    return report


def decide_again(
    ctx: Context, mailbox: Mailbox, info: MailboxInfo, metas: Sequence[MessageMeta], late: Mapping[int, str]
) -> PassReport:
    """Decide these mails again (`mailbot retry`) in arrival order; each earlier verdict gives way to the
    new one in the same transaction, whose ledger reason and audit entries carry the `late` note."""
    report = PassReport()
    ordered = sorted(metas, key=lambda m: (m.internaldate, m.uid))
    bot = ctx.config.bot
    for batch in batched_by_bytes(ordered, BODY_BATCH, bot.batch_bytes, bot.max_message_bytes):
        to_flag = _process_batch(ctx, mailbox, info.folder, info.uidvalidity, batch, report, late=late)
        _flag(ctx, mailbox, info.folder, info.uidvalidity, info.keywords_allowed, to_flag)
    return report


def _process_batch(
    ctx: Context,
    mailbox: Mailbox,
    folder: str,
    uidvalidity: int,
    batch: Sequence[MessageMeta],
    report: PassReport,
    *,
    late: Mapping[int, str] | None = None,
) -> list[int]:
    """Decide a batch of messages in one transaction (a savepoint each); returns the UIDs to flag.

    `late`: mails decided again (`mailbot retry`), by UID, with the note their new verdict carries.

    One commit per batch instead of one per message: the events are locked once (seat allocation is
    serialised as before), and a message that fails rolls back only its own savepoint. The UIDs are
    flagged only after the commit, so a crash mid-batch leaves nothing marked that isn't recorded.
    Memory: the batch's bodies add up to at most `[bot] batch_bytes` (see `batched_by_bytes`), and each
    body and its parse are let go as soon as its mail is decided.
    """
    to_flag: list[int] = []
    counted: list[Outcome] = []
    read: ReadAhead | None = None
    remaining = list(batch)
    while remaining:  # one transaction each LOCK_BUDGET_SECONDS of deciding
        decide = functools.partial(_decide_batch, ctx, folder, uidvalidity, remaining, late=late or {})
        try:
            decided, read = _decide_twice(ctx, decide, mailbox, remaining, read)
        except MailbotError:
            raise  # an EnvironmentFault already, or the mailbox's own one line
        except Exception as exc:
            # The environment failed outside a mail's savepoint (locking, reading ahead, the commit): the
            # transaction is rolled back, and the next pass takes its mails again, in order.
            if (fault := environment_fault(exc)) is None:
                raise
            where = f"the batch from mail uid {remaining[0].uid} on"
            raise EnvironmentFault(f"{fault}: {where} is not decided, the next pass tries it again") from exc
        flagged, outcomes, stopped, done = decided
        to_flag += flagged
        counted += outcomes
        report.stopped_early = report.stopped_early or stopped
        remaining = [] if stopped else remaining[done:]
        if remaining:
            ctx.stop.wait(LOCK_PAUSE_SECONDS)  # see LOCK_BUDGET_SECONDS: the admins' turn
    for outcome in counted:  # only once the batch is committed
        report.count(outcome)
    return to_flag


def _decide_twice(
    ctx: Context,
    decide: Callable[..., tuple[list[int], list[Outcome], bool, int]],
    mailbox: Mailbox,
    batch: Sequence[MessageMeta],
    read: ReadAhead | None,
) -> tuple[tuple[list[int], list[Outcome], bool, int], ReadAhead]:
    """The transaction's rows held back and written together; mail by mail if that met another's rows.

    `read`: what an earlier transaction of the same batch read ahead (None: read the batch now). Returns
    the decision and the read-ahead the batch's next transaction goes on with.
    """
    read = read or readahead.read_batch(ctx, mailbox, batch)
    try:
        return decide(read, buffered=True), read
    except BufferedWriteError as exc:
        if environment_fault(exc) is not None:
            raise  # no other process's rows: the database itself failed (see _process_batch)
        # Another process recorded something first (a constraint failed when the batch's rows were
        # written): the transaction is void. Decide it again, each mail's rows written at once, so the
        # mail concerned meets the constraint inside its own savepoint. The bodies were let go mail by
        # mail: they are read again (rare, and cheaper than holding them all).
        log.info("batch of %s mail(s) decided again mail by mail: %s", len(batch), exc)
        read = readahead.read_batch(ctx, mailbox, batch)
        return decide(read, buffered=False), read


def _decide_batch(
    ctx: Context,
    folder: str,
    uidvalidity: int,
    batch: Sequence[MessageMeta],
    read: ReadAhead,
    *,
    buffered: bool,
    late: Mapping[int, str],
) -> tuple[list[int], list[Outcome], bool, int]:
    """The batch's transaction: UIDs to flag, the outcomes, whether a stop signal cut it short, and how
    many of the batch's mails it decided (fewer than all once it took LOCK_BUDGET_SECONDS).

    Each mail's body and parse are dropped from `read` once the mail is decided (memory, see
    `_process_batch`).
    """
    to_flag: list[int] = []
    counted: list[Outcome] = []
    stopped = False
    done = 0
    hashes = read.hashes
    with ctx.db.transaction(buffered=buffered) as tx:
        began = time.monotonic()
        for event_id in sorted(ctx.events):
            tx.lock_event(event_id)  # in one order, before any ledger row: no deadlock with admins
        known = read.known = Known.load(tx, hashes, read.parsed)  # same mail seen before
        tx.prefetch(
            sorted(ctx.events), read.senders(ctx.addresses.normalize), ctx.clock() - REPLY_LIMIT_WINDOW
        )
        for meta in batch:
            if ctx.stop.is_set():
                stopped = True
                break
            if done and time.monotonic() - began > LOCK_BUDGET_SECONDS:
                break  # commit what is decided; the rest in the next transaction
            done += 1
            if meta.uid in late:  # its earlier verdict gives way in the transaction of the new one
                tx.reopen(folder, uidvalidity, [meta.uid], RETRYABLE)
            arrival = Arrival(
                folder,
                uidvalidity,
                meta.uid,
                meta.internaldate,
                meta.size,
                hashes.get(meta.uid),
                late.get(meta.uid, ""),
            )
            msg = read.parsed.get(meta.uid)
            outcome = boundary.process_safely(ctx, tx, arrival, read.bodies.get(meta.uid), read)
            read.release(meta.uid)
            if outcome is None:
                continue
            known.add(arrival, msg if isinstance(msg, InboundMessage) else None)
            counted.append(outcome)
            if outcome.value in _FLAG_OUTCOMES:
                to_flag.append(meta.uid)
        # Progress counts as a successful poll: draining a long backlog is a working desk, and `health`
        # must not call it stale (it looks for LAST_POLL within 3 poll intervals). A retry is no poll.
        if not late:
            tx.set_state(LAST_POLL, ctx.clock().isoformat())
    return to_flag, counted, stopped, done


def _flag(
    ctx: Context, mailbox: Mailbox, folder: str, uidvalidity: int, keywords_allowed: bool, uids: Sequence[int]
) -> None:
    """Mark (and move, if configured) registration mails whose decision is committed."""
    if not uids:
        return
    if keywords_allowed:
        mailbox.mark(uids, PROCESSED_KEYWORD)
    if ctx.config.imap.processed_folder:
        mailbox.move(uids, ctx.config.imap.processed_folder)
    with ctx.db.transaction() as tx:
        tx.mark_flagged(folder, uidvalidity, uids)
