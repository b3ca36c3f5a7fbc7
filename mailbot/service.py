"""The imperative shell: one pass over the mailbox, and the outbox flush; per-message error boundary."""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import string
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol
from zoneinfo import ZoneInfo

from mailbot.adapters import ownership
from mailbot.adapters.addresses import check_address, normalize_address, reply_address
from mailbot.adapters.db import (
    BufferedWriteError,
    ClaimedReply,
    Database,
    DuplicateMessageError,
    RegistrationRow,
    Tx,
)
from mailbot.adapters.journal import SentJournal
from mailbot.config import Config
from mailbot.core import authentication, booking, bounce, chain, entry, ics, replies, storm, unanswered
from mailbot.core.identity import content_hash
from mailbot.core.model import (
    Address,
    Arrival,
    Channel,
    Decision,
    Event,
    InboundMessage,
    Intent,
    Outcome,
    ReplyStatus,
    RuleContext,
    Status,
)
from mailbot.core.pacing import Pacer
from mailbot.core.parse import MessageParseError, parse_message
from mailbot.errors import EnvironmentFault, MailbotError, TemporaryDeliveryError
from mailbot.faults import environment_fault
from mailbot.ports import (
    Clock,
    DeliveryResult,
    IdFactory,
    Mailbox,
    MailboxFactory,
    MailboxInfo,
    Mailer,
    MessageMeta,
    OutgoingMail,
    batched_by_bytes,
)
from mailbot.recognition import Known
from mailbot.redact import describe_error, mask_address, mask_addresses

if TYPE_CHECKING:
    from mailbot.core.bounce import BounceReport

log = logging.getLogger("mailbot")

PROCESSED_KEYWORD = "$MailbotProcessed"
BODY_BATCH = 100  # mails read at once at most; `[bot] batch_bytes` bounds their bytes
# How long a batch's transaction may go on deciding mail (SQLite: holding the one write lock) before it
# commits and the rest of the batch goes on in a new transaction, after a pause longer than SQLite's longest
# busy-handler sleep (100 ms), so an admin command waiting for the lock gets its turn. One mail's decision
# is bounded by its size (no super-linear reading), so a waiting admin command waits about a second.
LOCK_BUDGET_SECONDS = 1.0
LOCK_PAUSE_SECONDS = 0.15
OUTBOX_BATCH = 500
FIRST_SEND_BATCH = 20  # replies claimed while the server's pace is unknown (see Desk._batch_size)
LAST_POLL = "last_successful_poll"
PAUSED_SINCE = "sending_paused_since"
PAUSE_REASON = "sending_paused_reason"  # the breaker's reason, for `status`
THROTTLED = "send_throttled"  # JSON {"at", "rate"}: when the SMTP server last slowed us down, to what pace
# A bounce naming none of our Message-IDs matches a reply to a failed recipient only if sent this recently.
BOUNCE_MATCH_WINDOW = timedelta(days=3)
REPLY_LIMIT_WINDOW = timedelta(days=1)  # max_replies_per_address_per_day counts the replies of this window
SEND_LEASE = timedelta(minutes=2)  # a claimed reply is retried after this if its sender died mid-send
LEADER_CLAIM = "leader_claim"  # the replies the pass-runner claimed last (see _release_orphaned_claim)
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
# Mails that give or confirm a seat carry the event as a calendar entry (RFC 5545).
_CALENDAR_KINDS = (ReplyStatus.CONFIRMED, ReplyStatus.PROMOTED, ReplyStatus.ACCESS, ReplyStatus.REMINDER)
# Which outcome names a mail that acted on several events (the most consequential first).
_OUTCOME_RANK = (
    Outcome.REGISTERED,
    Outcome.CANCELLED,
    Outcome.CANCEL_REQUESTED,
    Outcome.STATUS,
    Outcome.DUPLICATE,
    Outcome.OUTSIDE_WINDOW,
    Outcome.NOT_REGISTERED,
)


def refusal(address: str | None, reason: str) -> str:
    """Why a sender address was refused, for the ledger and the log (the address masked)."""
    if not address:
        return "no sender address (no From header, or none that can be read)"
    return f"sender address {mask(address)} refused: {reason}"


def mask(address: str | None) -> str:
    """An address fit for logs: ``a***@example.org`` (no personal data in logs)."""
    return mask_address(address)


def _who(name: str, email: str | None, phone: str | None) -> str:
    """A person for a staff member's own screen: name and whole address, or name and phone."""
    if email:
        return f"{name} <{email}>" if name else email
    return f"{name}, phone {phone or '-'}: no mail, tell them by phone"


@dataclass
class PassReport:
    """What one pass did, by outcome."""

    outcomes: dict[str, int] = field(default_factory=dict)
    stopped_early: bool = False
    skipped: bool = False  # another process held the leader lock

    def count(self, outcome: Outcome) -> None:
        """Count one message under its outcome."""
        self.outcomes[outcome.value] = self.outcomes.get(outcome.value, 0) + 1

    @property
    def total(self) -> int:
        """Messages handled in the pass."""
        return sum(self.outcomes.values())


@dataclass
class FlushReport:
    """What one outbox flush did."""

    sent: int = 0
    failed: int = 0
    deferred: int = 0
    error: str = ""
    paused: bool = False  # a breaker holds sending: the hourly reply limit, or a storm (core/storm.py)
    throttled: int = 0  # throttling answers ("432 4.3.2"): the pace slowed, the reply goes again

    @property
    def stopped(self) -> bool:
        """Sending stops for the rest of the pass: SMTP trouble, or the hourly limit."""
        return bool(self.error or self.paused)

    def add(self, other: FlushReport) -> None:
        """Count another flush of the same pass in."""
        self.sent += other.sent
        self.failed += other.failed
        self.deferred += other.deferred
        self.error = self.error or other.error
        self.paused = self.paused or other.paused
        self.throttled += other.throttled


@dataclass(frozen=True)
class AdminRegistration:
    """What `admin_register` did: the decision, the registration (new, or the one already held), the mail."""

    decision: Decision
    registration_id: int | None  # None: a duplicate found by phone or address always names its registration
    name: str  # the registration's name (a duplicate: the name it was recorded with)
    mailed: bool = False  # a mail to the person was queued
    warning: str = ""  # recorded, but staff should know (e.g. after the event's start)


class BackgroundSender(Protocol):
    """Sends the outbox from another process while the pass goes on (mailbot.sender)."""

    def request(self, leader: bool) -> None:
        """Send what is due now; returns at once."""

    def finish(self, leader: bool) -> FlushReport:
        """Send what is due, wait for it, and report what the pass's sending did."""


class Desk:
    """The registration desk: reads the mailbox, books seats, queues and sends replies."""

    def __init__(
        self,
        *,
        config: Config,
        db: Database,
        mailbox_factory: MailboxFactory,
        mailer: Mailer,
        clock: Clock,
        new_message_id: IdFactory,
        templates: Mapping[str, str],
        stop: threading.Event | None = None,
        read_bounce: Callable[[bytes, RuleContext], BounceReport | None] | None = None,
        event_templates: Mapping[str, Mapping[str, str]] | None = None,
        use_leader_lock: bool = True,
        journal: SentJournal | None = None,
        pacer: Pacer | None = None,
    ) -> None:
        self.config = config
        self.pacer = pacer or Pacer(config.smtp.max_per_minute)  # the mailer's, when it paces (bootstrap)
        self.journal = journal  # SQLite: where a sending process records accepted replies (journal.py)
        self.record_to_journal = False  # set in that process: record there, fold into the database per batch
        self.use_leader_lock = use_leader_lock
        self.read_bounce = read_bounce
        self.db = db
        self.mailbox_factory = mailbox_factory
        self.mailer = mailer
        self.clock = clock
        self.new_message_id = new_message_id
        self.stop = stop or threading.Event()
        self.committed: Callable[[], None] | None = None  # called after each batch is committed and flagged
        self.background: BackgroundSender | None = None  # set by `mailbot run`: replies sent beside the pass
        self._seconds_per_mail: float | None = None  # the SMTP server's pace in the last batch sent
        self.tz = ZoneInfo(config.bot.timezone)
        self.keywords = chain.Keywords(config.events)
        self.events = {ev.id: ev for ev in config.events}
        self.rule_context = RuleContext(
            own_addresses=frozenset({config.smtp.sender_address.lower()}),
            own_domain=config.smtp.sender_address.rsplit("@", 1)[1],
        )
        self.reply_settings = replies.ReplySettings(
            sender=config.smtp.sender, timezone=self.tz, language=config.bot.language, templates=templates
        )
        overrides = event_templates or {}
        self.settings = {
            ev.id: replies.ReplySettings(
                sender=config.smtp.sender,
                timezone=self.tz,
                language=config.bot.language,
                templates={**templates, **overrides.get(ev.id, {})},
            )
            for ev in config.events
        }

    # --- the pass ---------------------------------------------------------------------------------
    def run_once(self) -> tuple[PassReport, FlushReport]:
        """One pass (all new mail, all due replies); skipped while another process holds the leader lock."""
        if not self.use_leader_lock:
            return self._poll_and_send(leader=False)
        with self.db.leader() as leader:
            if not leader:
                log.info("another mailbot process is running a pass on this database: skipped")
                return PassReport(skipped=True), FlushReport()
            self._release_orphaned_claim()
            return self._poll_and_send(leader=True)

    def _poll_and_send(self, *, leader: bool) -> tuple[PassReport, FlushReport]:
        """Poll, sending the replies of each batch as soon as it is committed.

        In a rush the first citizens have their answer within seconds, not after the whole mailbox. With a
        `background` sender (`mailbot run`: another process, another core) the pass reads on while the batch's
        replies go out, and ends once they are out; else it sends them itself before it reads the next batch.
        (A sender *thread* was measured slower: it contends with the pass for the GIL.) SMTP trouble or the
        hourly limit stops sending for the rest of the pass; the bookings go on, and the next pass sends
        what waits.
        """
        background = self.background
        if background is not None:
            # Another process sends while this one reads on; the pass ends once it has sent what is due.
            self.committed = lambda: background.request(leader)
            try:
                report = self.poll_once()
            except BaseException:
                self.committed = None
                with contextlib.suppress(Exception):  # the pass's own failure is the one to report
                    background.finish(leader)  # nothing may go out once the pass (and its lock) has ended
                raise
            self.committed = None
            return report, background.finish(leader)
        total = FlushReport()

        def send(wait: float | None = 0.0) -> None:
            # Between batches only what is due by [smtp] max_per_minute now: reading goes on meanwhile.
            if not (total.stopped or self.stop.is_set()):
                total.add(self.flush_outbox(leader=leader, wait=wait))

        self.committed = send
        try:
            report = self.poll_once()
        finally:
            self.committed = None
        send(wait=None)  # the rest: replies of mails answered by admins, promotions, retries that came due
        return report, total

    def _release_orphaned_claim(self) -> None:
        """Replies the last pass-runner claimed and never finished are due now, not after SEND_LEASE.

        We hold the leader lock, so no other pass is sending: the pass that made the claim has ended, or died
        mid-send (SIGKILL, power loss) and its lease protects nobody. Claims of admin commands (they flush
        without the lock) are never recorded here, and a reply changed since the claim keeps its state.
        """
        self._fold_journal(orphaned=True)  # replies a killed sending process had sent are sent, not orphaned
        with self.db.transaction() as tx:
            claim = tx.get_state(LEADER_CLAIM)
            if claim is None:
                return
            data = json.loads(claim)
            lease_until = datetime.fromisoformat(data["lease_until"])
            released = tx.release_claim(data["ids"], lease_until, self.clock())
            tx.clear_state(LEADER_CLAIM)
        if released:
            log.warning("%s reply(ies) claimed by an interrupted pass are due again", released)

    def poll_once(self) -> PassReport:
        """Process every message not processed before, in order of arrival (INTERNALDATE, then UID)."""
        report = PassReport()
        with self.db.transaction() as tx:
            tx.sync_events(self.config.events)
        self.promote_all()
        self.scheduled_mailings()
        from mailbot import privacy  # noqa: PLC0415 (privacy imports this module)

        privacy.purge_due(self.db, self.config.events, self.clock())  # DSGVO retention, due events only
        mailbox = self.mailbox_factory()
        try:
            info = mailbox.select(self.config.imap.folder)
            # Finish what a crash interrupted: committed registration mails not yet marked/moved.
            with self.db.transaction() as tx:
                leftover = tx.unflagged_uids(info.folder, info.uidvalidity, _FLAG_OUTCOMES)
            existing = set(mailbox.list_uids())
            self._flag(
                mailbox,
                info.folder,
                info.uidvalidity,
                info.keywords_allowed,
                [u for u in leftover if u in existing],
            )
            with self.db.transaction() as tx:
                done = tx.processed_uids(info.folder, info.uidvalidity)
            new = sorted(existing - done)
            metas = sorted(mailbox.fetch_meta(new), key=lambda m: (m.internaldate, m.uid))
            bot = self.config.bot
            for batch in batched_by_bytes(metas, BODY_BATCH, bot.batch_bytes, bot.max_message_bytes):
                to_flag = self._process_batch(mailbox, info.folder, info.uidvalidity, batch, report)
                self._flag(mailbox, info.folder, info.uidvalidity, info.keywords_allowed, to_flag)
                if self.committed is not None:
                    self.committed()  # the batch's replies go out before the next batch is read
                if self.stop.is_set():
                    report.stopped_early = True
                    break
            with self.db.transaction() as tx:
                tx.set_state(LAST_POLL, self.clock().isoformat())
        finally:
            mailbox.close()
        return report

    def decide_again(
        self, mailbox: Mailbox, info: MailboxInfo, metas: Sequence[MessageMeta], late: Mapping[int, str]
    ) -> PassReport:
        """Decide these mails again (`mailbot retry`) in arrival order; each earlier verdict gives way to the
        new one in the same transaction, whose ledger reason and audit entries carry the `late` note."""
        report = PassReport()
        ordered = sorted(metas, key=lambda m: (m.internaldate, m.uid))
        bot = self.config.bot
        for batch in batched_by_bytes(ordered, BODY_BATCH, bot.batch_bytes, bot.max_message_bytes):
            to_flag = self._process_batch(mailbox, info.folder, info.uidvalidity, batch, report, late=late)
            self._flag(mailbox, info.folder, info.uidvalidity, info.keywords_allowed, to_flag)
        return report

    def _process_batch(
        self,
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
        read: _ReadAhead | None = None
        remaining = list(batch)
        while remaining:  # one transaction each LOCK_BUDGET_SECONDS of deciding
            decide = functools.partial(self._decide_batch, folder, uidvalidity, remaining, late=late or {})
            try:
                decided, read = self._decide_twice(decide, mailbox, remaining, read)
            except MailbotError:
                raise  # an EnvironmentFault already, or the mailbox's own one line
            except Exception as exc:
                # The environment failed outside a mail's savepoint (locking, reading ahead, the commit): the
                # transaction is rolled back, and the next pass takes its mails again, in order.
                if (fault := environment_fault(exc)) is None:
                    raise
                where = f"the batch from mail uid {remaining[0].uid} on"
                raise EnvironmentFault(
                    f"{fault}: {where} is not decided, the next pass tries it again"
                ) from exc
            flagged, outcomes, stopped, done = decided
            to_flag += flagged
            counted += outcomes
            report.stopped_early = report.stopped_early or stopped
            remaining = [] if stopped else remaining[done:]
            if remaining:
                self.stop.wait(LOCK_PAUSE_SECONDS)  # see LOCK_BUDGET_SECONDS: the admins' turn
        for outcome in counted:  # only once the batch is committed
            report.count(outcome)
        return to_flag

    def _decide_twice(
        self,
        decide: Callable[..., tuple[list[int], list[Outcome], bool, int]],
        mailbox: Mailbox,
        batch: Sequence[MessageMeta],
        read: _ReadAhead | None,
    ) -> tuple[tuple[list[int], list[Outcome], bool, int], _ReadAhead]:
        """The transaction's rows held back and written together; mail by mail if that met another's rows.

        `read`: what an earlier transaction of the same batch read ahead (None: read the batch now). Returns
        the decision and the read-ahead the batch's next transaction goes on with.
        """
        read = read or self._read_batch(mailbox, batch)
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
            read = self._read_batch(mailbox, batch)
            return decide(read, buffered=False), read

    def _read_batch(self, mailbox: Mailbox, batch: Sequence[MessageMeta]) -> _ReadAhead:
        """The batch's bodies (those within max_message_bytes), their content hashes, their parses and the
        bounce readings of those that look like bounces (see _read_bounces)."""
        limit = self.config.bot.max_message_bytes
        bodies = mailbox.fetch_bodies([m.uid for m in batch if m.size <= limit])
        hashes = {uid: content_hash(raw) for uid, raw in bodies.items() if raw}
        parsed = dict(_parse_all(bodies))
        bounces = self._read_bounces(bodies, parsed)
        return _ReadAhead(bodies=bodies, hashes=hashes, parsed=parsed, known=Known(), bounces=bounces)

    def _decide_batch(
        self,
        folder: str,
        uidvalidity: int,
        batch: Sequence[MessageMeta],
        read: _ReadAhead,
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
        with self.db.transaction(buffered=buffered) as tx:
            began = time.monotonic()
            for event_id in sorted(self.events):
                tx.lock_event(event_id)  # in one order, before any ledger row: no deadlock with admins
            known = read.known = Known.load(tx, hashes, read.parsed)  # same mail seen before
            tx.prefetch(sorted(self.events), read.senders(), self.clock() - REPLY_LIMIT_WINDOW)
            for meta in batch:
                if self.stop.is_set():
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
                outcome = self._process_safely(tx, arrival, read.bodies.get(meta.uid), read)
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
                tx.set_state(LAST_POLL, self.clock().isoformat())
        return to_flag, counted, stopped, done

    def _read_bounces(
        self, bodies: Mapping[int, bytes], parsed: Mapping[int, InboundMessage | Exception]
    ) -> dict[int, BounceReport | None]:
        """The bounce readings of the batch's mails whose headers look like a bounce's, read before the
        batch's transaction: the email parser and flufl.bounce take about a second per MB of such a mail,
        which inside the transaction would keep SQLite's write lock from admin commands."""
        if self.read_bounce is None:
            return {}
        readings: dict[int, BounceReport | None] = {}
        for uid, msg in parsed.items():
            if isinstance(msg, InboundMessage) and bounce.may_be_bounce(msg):
                readings[uid] = self.read_bounce(bodies[uid], self.rule_context)
        return readings

    def _bounce_of(self, arrival: Arrival, raw: bytes, read: _ReadAhead) -> BounceReport | None:
        """The mail's bounce reading: read ahead (see _read_bounces), else now."""
        if arrival.uid in read.bounces:
            return read.bounces[arrival.uid]
        return self.read_bounce(raw, self.rule_context) if self.read_bounce is not None else None

    def _flag(
        self, mailbox: Mailbox, folder: str, uidvalidity: int, keywords_allowed: bool, uids: Sequence[int]
    ) -> None:
        """Mark (and move, if configured) registration mails whose decision is committed."""
        if not uids:
            return
        if keywords_allowed:
            mailbox.mark(uids, PROCESSED_KEYWORD)
        if self.config.imap.processed_folder:
            mailbox.move(uids, self.config.imap.processed_folder)
        with self.db.transaction() as tx:
            tx.mark_flagged(folder, uidvalidity, uids)

    def _process_safely(
        self, tx: Tx, arrival: Arrival, raw: bytes | None, read: _ReadAhead
    ) -> Outcome | None:
        """The per-message boundary: a failure of the mail's own rolls back and quarantines this one message.

        A failure of the environment (database, disk, network, memory: see faults.py) is no verdict on the
        mail: it ends the pass, the batch's transaction rolls back, and the next pass takes the same mails in
        the same order (DESIGN invariant 7).
        """
        parsed: list[InboundMessage] = []  # filled by _process once parsed, so quarantine keeps its identity
        try:
            with tx.savepoint():
                return self._process(tx, arrival, raw, parsed, read)
        except DuplicateMessageError:
            return None  # another process recorded it first
        except BufferedWriteError:
            raise  # the batch's transaction is void, not this message (see _process_batch)
        except Exception as exc:  # the loop must never die on one message (DESIGN 9)
            if (fault := environment_fault(exc)) is not None:
                raise EnvironmentFault(
                    f"{fault}: mail uid {arrival.uid} is not decided, the next pass tries it again"
                ) from exc
            reason = mask_addresses(describe_error(exc))[:500]
            try:
                with tx.savepoint():
                    self._record(tx, arrival, parsed[0] if parsed else None, Outcome.QUARANTINED, reason)
            except DuplicateMessageError:
                return None
            except Exception as again:
                if (fault := environment_fault(again)) is not None:  # the record itself met the environment
                    raise EnvironmentFault(
                        f"{fault}: mail uid {arrival.uid} is not decided, the next pass tries it again"
                    ) from again
                raise
            log.warning("uid %s quarantined: %s", arrival.uid, reason)
            return Outcome.QUARANTINED

    def _record(
        self,
        tx: Tx,
        arrival: Arrival,
        msg: InboundMessage | None,
        outcome: Outcome,
        reason: str,
        *,
        hits: Sequence[tuple[str, str]] = (),
    ) -> None:
        """A verdict that needs no booking: the ledger row alone."""
        self._ledger(tx, arrival, msg=msg, outcome=outcome, reason=reason, hits=hits)

    def _ledger(
        self,
        tx: Tx,
        arrival: Arrival,
        *,
        msg: InboundMessage | None,
        outcome: Outcome,
        reason: str,
        hits: Sequence[tuple[str, str]],
        intent: Intent | None = None,
    ) -> int:
        if arrival.late:
            reason = f"{reason}; {arrival.late}" if reason else arrival.late
        return tx.add_ledger(
            intent=intent.value if intent else None,
            content_hash=arrival.content_hash,
            decoded_hash=msg.decoded_hash if msg else None,
            folder=arrival.folder,
            uidvalidity=arrival.uidvalidity,
            uid=arrival.uid,
            message_id=msg.message_id if msg else None,
            internaldate=arrival.internaldate,
            size=arrival.size,
            outcome=outcome.value,
            reason=reason,
            rule_hits=hits,
            sender=msg.sender.address if msg and msg.sender else None,
            subject=msg.subject[:500] if msg else None,
            now=self.clock(),
        )

    def _process(
        self,
        tx: Tx,
        arrival: Arrival,
        raw: bytes | None,
        parsed: list[InboundMessage],
        read: _ReadAhead,
    ) -> Outcome:
        if raw is None:
            reason = f"{arrival.size} bytes > max_message_bytes {self.config.bot.max_message_bytes}"
            self._record(tx, arrival, None, Outcome.TOO_LARGE, reason)
            log.warning("uid %s too large, left for staff: %s", arrival.uid, reason)
            return Outcome.TOO_LARGE
        msg = read.parsed.get(arrival.uid) or MessageParseError("not read")
        if isinstance(msg, MessageParseError):
            self._record(tx, arrival, None, Outcome.QUARANTINED, str(msg))
            log.warning("uid %s quarantined: %s", arrival.uid, msg)
            return Outcome.QUARANTINED
        if isinstance(msg, Exception):
            raise msg  # an unexpected parser failure: quarantined by the boundary, like any other
        parsed.append(msg)
        if self._seen_before(tx, arrival, msg, read.known):
            return Outcome.ALREADY_PROCESSED
        return self._handle(tx, arrival, raw, msg, read)

    def _seen_before(self, tx: Tx, arrival: Arrival, msg: InboundMessage, known: Known) -> bool:
        """Same mail, other identity: folder recreated or restored (new UIDVALIDITY, maybe re-encoded
        bodies) or moved back (new UID)? See recognition.Known: by content, so it survives the erasure of
        personal data, which clears the stored Message-ID."""
        where = known.first(arrival, msg)
        if where is None:
            return False
        reason = f"same mail as {where[0]} uid {where[2]} (uidvalidity {where[1]})"
        self._record(tx, arrival, msg, Outcome.ALREADY_PROCESSED, reason)
        return True

    def _handle(self, tx: Tx, arrival: Arrival, raw: bytes, msg: InboundMessage, read: _ReadAhead) -> Outcome:
        """Classify a parsed message and act on it: machine, not our business, rejected, or an intent."""
        verdict = chain.classify(msg, self.rule_context, self.keywords)
        hits = tuple((h.rule, h.reason) for h in verdict.hits)
        if verdict.machine is not None:
            return self._machine(tx, arrival, raw, msg, read, reason=verdict.machine.reason, hits=hits)
        if (
            verdict.intent is not None
            and read.bounces.get(arrival.uid)  # screened before the transaction (see _read_bounces)
        ):
            # A bounce with none of the usual marks, recognised by its body (flufl.bounce): never answer it.
            return self._machine(
                tx, arrival, raw, msg, read, reason="non-standard bounce (flufl.bounce)", hits=hits
            )
        event_ids = verdict.event_ids
        if not event_ids and verdict.our_references and verdict.intent is not None:
            # "Abmeldung" in a reply to our mail: the event it was about
            event_ids = tuple(e for e in tx.events_of_replies(verdict.our_references) if e in self.events)
        if verdict.intent is None or not event_ids:
            why = unanswered.why_not_registration(verdict, msg, self.keywords.patterns)
            self._record(tx, arrival, msg, Outcome.NOT_REGISTRATION, why, hits=hits)
            return Outcome.NOT_REGISTRATION
        if self.config.bot.require_authenticated_sender:
            trusted, why = authentication.authenticated(msg, self.config.bot.authserv_id)
            if not trusted:
                self._record(tx, arrival, msg, Outcome.HELD, f"held for staff: {why}", hits=hits)
                log.info("uid %s held for staff (sender not authenticated): %s", arrival.uid, why)
                return Outcome.HELD
        checked = check_address(msg.sender.address) if msg.sender else None
        normalized = checked.normalized if checked else None
        if msg.sender is None or checked is None or normalized is None:
            why = refusal(msg.sender.address if msg.sender else None, checked.reason if checked else "")
            self._record(tx, arrival, msg, Outcome.REJECTED, why, hits=hits)
            log.warning("uid %s keyword mail not answered: %s", arrival.uid, why)
            return Outcome.REJECTED
        sender = Address(msg.sender.name, msg.sender.address)
        return self._act(
            tx,
            arrival,
            msg=msg,
            intent=verdict.intent,
            event_ids=event_ids,
            sender=sender,
            normalized=normalized,
            hits=hits,
            references=verdict.our_references,
        )

    def _machine(
        self,
        tx: Tx,
        arrival: Arrival,
        raw: bytes,
        msg: InboundMessage,
        read: _ReadAhead,
        *,
        reason: str,
        hits: Sequence[tuple[str, str]],
    ) -> Outcome:
        """Never answered (RFC 3834); a bounce of one of our replies marks that reply undeliverable."""
        report = self._bounce_of(arrival, raw, read)
        if report is not None and report.permanent:
            recent = self.clock() - BOUNCE_MATCH_WINDOW
            failed = [normalize_address(r) or r for r in report.failed_recipients]  # A-labels or U-labels
            outbox_id = tx.find_reply(report.our_message_ids, failed, recent)
            if outbox_id is not None:
                recipient = tx.mark_bounced(outbox_id, self.clock())
                why = f"bounce of our reply to {mask(recipient)}: {mask_addresses(report.diagnostic)}"[:500]
                self._ledger(tx, arrival, msg=msg, outcome=Outcome.BOUNCE, reason=why, hits=hits)
                log.warning("uid %s %s", arrival.uid, why)
                return Outcome.BOUNCE
        self._record(tx, arrival, msg, Outcome.MACHINE, reason, hits=hits)
        log.info("uid %s not answered (machine): %s", arrival.uid, reason)
        return Outcome.MACHINE

    def _act(
        self,
        tx: Tx,
        arrival: Arrival,
        *,
        msg: InboundMessage,
        intent: Intent,
        event_ids: Sequence[str],
        sender: Address,
        normalized: str,
        hits: Sequence[tuple[str, str]],
        references: Sequence[str] = (),
    ) -> Outcome:
        """Ledger row, registration changes, promotions and replies: one savepoint of the batch's transaction
        (invariant 5); the batch holds the event locks, so seat allocation stays serialised per event.

        `references`: the Message-IDs of ours the mail answers; a cancellation needs one sent to the
        registered address, else the owner is asked to confirm (invariant 8, see `_ask_to_confirm`)."""
        now = self.clock()
        reasons: list[str] = []
        actor = f"mail uid {arrival.uid} from {mask(sender.address)}"
        if arrival.late:
            actor = f"{actor}, {arrival.late}"
        found: list[Outcome] = []
        ledger_id = self._ledger(
            tx, arrival, msg=msg, outcome=Outcome.DUPLICATE, reason="", hits=hits, intent=intent
        )
        for event_id in event_ids:
            event = self.events[event_id]
            existing = tx.existing(event_id, normalized)
            registration_id = None
            if intent is Intent.CANCEL:
                row = tx.active_row(event_id, normalized) if existing is not None else None
                proven = row is not None and ownership.answers_our_mail_to(tx, references, row)
                decision = booking.cancel(existing, proven=proven)
                if decision.reply is ReplyStatus.CONFIRM_CANCEL and row is not None:
                    found.append(Outcome.CANCEL_REQUESTED)
                    reasons.append(self._ask_to_confirm(tx, event, row, ledger_id, now))
                    continue  # nothing changes, and the sender (maybe not the owner) gets no mail
                # Outcomes, not intents: "Abmeldung" from someone without a registration cancelled nothing.
                found.append(Outcome.CANCELLED if decision.status is not None else Outcome.NOT_REGISTERED)
                if decision.reply is ReplyStatus.CANCELLED:
                    assert row is not None
                    registration_id = tx.cancel_row(row, now, actor)
            elif intent is Intent.STATUS:
                decision = booking.status(existing)
                found.append(Outcome.STATUS if decision.status is not None else Outcome.NOT_REGISTERED)
            elif refused := booking.outside_window(event, existing, arrival.internaldate):
                decision = refused
                found.append(Outcome.OUTSIDE_WINDOW)
            else:
                decision = booking.decide(event, tx.counts(event_id), existing)
                found.append(Outcome.REGISTERED if decision.new_registration else Outcome.DUPLICATE)
                if decision.new_registration:
                    assert decision.status is not None
                    registration_id = tx.add_registration(
                        event_id=event_id,
                        position=decision.position,
                        status=decision.status,
                        name=sender.name,
                        email=sender.address,
                        email_normalized=normalized,
                        channel=Channel.EMAIL.value,
                        received_at=arrival.internaldate,
                        ledger_id=ledger_id,
                        message_id=msg.message_id,
                        now=now,
                        actor=actor,
                    )
            sent = self._queue_reply(
                tx,
                msg=msg,
                recipient=sender,
                normalized=normalized,
                event_id=event_id,
                decision=decision,
                registration_id=registration_id,
                ledger_id=ledger_id,
                now=now,
            )
            reasons.append(f"{event_id}: {decision.reply.value}{sent}")
            if intent is Intent.CANCEL:
                reasons += self._promote(tx, event, now)
        outcome = min(found, key=_OUTCOME_RANK.index)
        if arrival.late:
            reasons.append(arrival.late)
        tx.set_ledger_outcome(ledger_id, outcome.value, "; ".join(reasons))
        log.info("uid %s from %s: %s", arrival.uid, mask(sender.address), "; ".join(reasons))
        return outcome

    def _ask_to_confirm(
        self, tx: Tx, event: Event, row: RegistrationRow, ledger_id: int, now: datetime
    ) -> str:
        """Ask the registered address to confirm a cancellation by replying; returns the ledger's note.

        The request goes to the address the registration was made with, never to the mail's sender (anyone
        can write any From:), is a new mail with our own subject (not threaded to a mail a stranger wrote,
        so the stranger's words reach nobody), and goes at most once a day per registration (a forger
        sending many mails must not flood the owner).
        """
        if ownership.confirmation_requested(tx, row.id, now - REPLY_LIMIT_WINDOW):
            return f"{event.id}: confirm-cancel already requested today (not again)"
        decision = Decision(
            reply=ReplyStatus.CONFIRM_CANCEL,
            status=Status(row.status),
            new_registration=False,
            position=row.position,
        )
        self._compose(
            tx,
            event=event,
            decision=decision,
            recipient=Address(row.name, row.email or ""),
            registration_id=row.id,
            ledger_id=ledger_id,
            now=now,
            normalized=row.email_normalized,
            subject=self._subject(event, decision),
        )
        return f"{event.id}: confirm-cancel asked of the registered address {mask(row.email)}"

    def promote_all(self) -> None:
        """Fill free seats from the waitlists (after a capacity was raised, or a seat freed elsewhere)."""
        now = self.clock()
        for event in self.config.events:
            with self.db.transaction() as tx:
                tx.lock_event(event.id)
                for line in self._promote(tx, event, now):
                    log.info("%s", line)

    def _promote(self, tx: Tx, event: Event, now: datetime, *, for_staff: bool = False) -> list[str]:
        """Move the first waitlisted people (strict FIFO) onto free seats, each with a mail; in `tx`.

        One line per promotion: for the ledger and the log, with the address masked; `for_staff` (a staff
        command's own output): with name and whole address or phone, to be read back on the phone.
        """
        lines = []
        for row in tx.waitlist_head(event.id, booking.seats_to_promote(event, tx.counts(event.id), now)):
            seat = tx.promote(row.id, now)
            decision = Decision(
                reply=ReplyStatus.PROMOTED,
                status=Status.CONFIRMED,
                new_registration=False,
                position=row.position,
                seat=seat,
            )
            if row.email:
                self._compose(
                    tx,
                    event=event,
                    decision=decision,
                    recipient=Address(row.name, row.email),
                    registration_id=row.id,
                    ledger_id=row.ledger_id,
                    now=now,
                    original_message_id=row.message_id,
                    subject=self._subject(event, decision),
                )
            who = _who(row.name, row.email, row.phone) if for_staff else mask(row.email)
            lines.append(f"{event.id}: promoted position {row.position} ({who})")
        return lines

    def _subject(self, event: Event, decision: Decision) -> str:
        """The subject of a mail that answers no mail (promotion, access data, reminder, phone booking)."""
        en = self.config.bot.language == "en"
        words = {
            ReplyStatus.PROMOTED: ("Ihr Platz ist bestätigt", "Your seat is confirmed"),
            ReplyStatus.ACCESS: ("Zugangsdaten", "Access details"),
            ReplyStatus.REMINDER: ("Erinnerung", "Reminder"),
            ReplyStatus.CANCELLED: ("Abmeldung bestätigt", "Cancellation confirmed"),
            # No cancel word here: a reply's subject counts as its words, and only the word "Abmeldung" in
            # the owner's own answer may cancel (not a "Re:" of our subject).
            ReplyStatus.CONFIRM_CANCEL: ("Bitte bestätigen", "Please confirm"),
        }.get(decision.reply, ("Ihre Anmeldung", "Your registration"))
        return f"{words[1] if en else words[0]}: {event.title}"

    def _queue_reply(
        self,
        tx: Tx,
        *,
        msg: InboundMessage,
        recipient: Address,
        normalized: str,
        event_id: str,
        decision: Decision,
        registration_id: int | None,
        ledger_id: int,
        now: datetime,
    ) -> str:
        """Queue the reply, within the per-address daily limit; returns a note for the ledger ('' if sent).

        Past the limit, one last notice goes out, then nothing until the day has passed (no storms).
        """
        since = now - REPLY_LIMIT_WINDOW
        limit = self.config.bot.max_replies_per_address_per_day
        note = ""
        replies, notices = tx.replies_to(normalized, since)
        if replies >= limit:
            if notices:
                return " (reply suppressed: daily limit)"
            decision = Decision(reply=ReplyStatus.LIMIT, status=None, new_registration=False, position=0)
            note = " (limit notice instead of the reply)"
        self._compose(
            tx,
            event=self.events[event_id],
            decision=decision,
            recipient=recipient,
            registration_id=registration_id,
            ledger_id=ledger_id,
            now=now,
            normalized=normalized,
            original_subject=msg.subject,
            original_message_id=msg.message_id,
            original_references=msg.references,
        )
        return note

    def _compose(
        self,
        tx: Tx,
        *,
        event: Event,
        decision: Decision,
        recipient: Address,
        registration_id: int | None,
        ledger_id: int | None,
        now: datetime,
        normalized: str | None = None,
        original_subject: str = "",
        original_message_id: str | None = None,
        original_references: tuple[str, ...] = (),
        subject: str | None = None,
    ) -> None:
        """Build one mail about a registration and queue it in the outbox, in `tx`.

        Access data ride along in confirmations and promotions once they went out for the event, and always in
        access and reminder mails; those registrations count as served. Seat-giving mails carry an .ics entry,
        whose DESCRIPTION holds the access data exactly when the text does (never before they went out).
        """
        kind = decision.reply
        # An IDN domain goes out in A-labels, so any server takes the reply; a non-ASCII local part stays as
        # it is (RFC 6532 header, SMTPUTF8 to send it: the SMTP adapter refuses it where the server can't).
        recipient = Address(recipient.name, reply_address(recipient.address))
        with_access = bool(event.access_info) and (
            kind in (ReplyStatus.ACCESS, ReplyStatus.REMINDER)
            or (kind in (ReplyStatus.CONFIRMED, ReplyStatus.PROMOTED) and tx.access_started(event.id))
        )
        reply = replies.build_reply(
            event=event,
            decision=decision,
            recipient=recipient,
            original_subject=original_subject,
            original_message_id=original_message_id,
            original_references=original_references,
            message_id=self.new_message_id(),
            now=now,
            settings=self.settings[event.id],
            subject=subject,
            with_access=with_access,
        )
        if kind in _CALENDAR_KINDS:
            calendar = ics.event_calendar(
                event,
                uid=f"{event.id}-{registration_id or 0}@{self.rule_context.own_domain}",
                now=now,
                organizer=self.config.smtp.sender,
                # The calendar file is a part of the mail like the text: no access data before they went out.
                description=event.access_info if with_access else "",
                location=event.location,
            )
            ics.attach_calendar(reply, calendar)
        address = reply.recipient
        tx.add_outbox(
            event_id=event.id,
            registration_id=registration_id,
            ledger_id=ledger_id,
            kind=kind.value,
            envelope_from=self.config.smtp.sender_address,
            recipient=address,
            recipient_normalized=normalized or normalize_address(address) or address.lower(),
            message_id=reply.message_id,
            data=reply.as_bytes(),
            now=now,
        )
        if registration_id is not None and with_access:
            tx.mark_served(registration_id, "access_sent_at", now)
        if registration_id is not None and kind is ReplyStatus.REMINDER:
            tx.mark_served(registration_id, "reminder_sent_at", now)

    # --- admin and hotline -----------------------------------------------------------------------------
    def admin_register(
        self,
        event_id: str,
        *,
        name: str,
        email: str | None,
        phone: str | None,
        received_at: datetime | None,
        channel: Channel,
        actor: str,
        tx: Tx | None = None,
        notify: bool | None = True,
        check_arrival: bool = False,
    ) -> AdminRegistration:
        """Record a registration from the hotline or an admin in arrival order; mail the person if we can.

        The window doesn't apply (staff decide). An email address or phone number that already holds an
        active registration gets no second one (the decision says duplicate, with the registration it holds).
        `notify`: True mails the person (also a duplicate notice), False never, None only a new registration.
        `check_arrival` (`mailbot add`): refuse a back-dated or future `received_at`, warn after the start
        (core/entry.py); a refusal raises MailbotError and records nothing.
        """
        if tx is None:
            with self.db.transaction() as own:
                return self.admin_register(
                    event_id,
                    name=name,
                    email=email,
                    phone=phone,
                    received_at=received_at,
                    channel=channel,
                    actor=actor,
                    tx=own,
                    notify=notify,
                    check_arrival=check_arrival,
                )
        event = self.events[event_id]
        now = self.clock()
        checked = check_address(email) if email else None
        normalized = checked.normalized if checked else None
        if checked is not None and normalized is None:
            raise MailbotError(f"not a valid email address: {email!r} ({checked.reason})")
        tx.lock_event(event_id)
        if normalized:
            held = tx.active_row(event_id, normalized)
        else:
            held = tx.active_by_phone(event_id, phone) if phone else None
        arrival = entry.Received(received_at or now)
        if held is None and check_arrival:
            arrival = entry.received(event, received_at, now=now, last=tx.last_received(event_id), tz=self.tz)
            if arrival.refusal:
                raise MailbotError(f"add: {arrival.refusal}")
        existing = tx.existing_of(held) if held is not None else None
        decision = booking.decide(event, tx.counts(event_id), existing)
        registration_id = held.id if held is not None else None
        if decision.new_registration:
            assert decision.status is not None
            registration_id = tx.add_registration(
                event_id=event_id,
                position=decision.position,
                status=decision.status,
                name=name,
                email=email,
                email_normalized=normalized,
                channel=channel.value,
                received_at=arrival.at,
                ledger_id=None,
                message_id=None,
                now=now,
                actor=actor,
                phone=phone,
            )
        mailed = bool(email) and (notify if notify is not None else decision.new_registration)
        if mailed:
            assert email is not None
            self._compose(
                tx,
                event=event,
                decision=decision,
                recipient=Address(name, email),
                registration_id=registration_id,
                ledger_id=None,
                now=now,
                normalized=normalized,
                subject=self._subject(event, decision),
            )
        return AdminRegistration(
            decision, registration_id, held.name if held else name, mailed=mailed, warning=arrival.warning
        )

    def admin_cancel(
        self, event_id: str, *, email: str | None, registration_id: int | None, quiet: bool, actor: str
    ) -> tuple[Decision, list[str]]:
        """Cancel a registration by address or id; the waitlist moves up in the same transaction.

        The person gets the usual `cancelled` mail unless `quiet`; promoted people always get theirs.
        """
        event = self.events[event_id]
        now = self.clock()
        with self.db.transaction() as tx:
            tx.lock_event(event_id)
            if registration_id is not None:
                row = tx.registration(registration_id)
                if row is not None and row.event_id != event_id:
                    row = None
            else:
                checked = check_address(email or "")
                normalized = checked.normalized
                if normalized is None:
                    raise MailbotError(f"not a valid email address: {email!r} ({checked.reason})")
                row = tx.active_row(event_id, normalized)
            if row is None or row.status == Status.CANCELLED.value:
                return Decision(
                    reply=ReplyStatus.NOT_REGISTERED, status=None, new_registration=False, position=0
                ), []
            tx.cancel_row(row, now, actor)
            decision = Decision(
                reply=ReplyStatus.CANCELLED,
                status=Status.CANCELLED,
                new_registration=False,
                position=row.position,
            )
            if row.email and not quiet:
                self._compose(
                    tx,
                    event=event,
                    decision=decision,
                    recipient=Address(row.name, row.email),
                    registration_id=row.id,
                    ledger_id=None,
                    now=now,
                    original_message_id=row.message_id,
                    subject=self._subject(event, decision),
                )
            return decision, self._promote(tx, event, now, for_staff=True)

    # --- mailings to all participants ---------------------------------------------------------------------
    def queue_mailing(self, event_id: str, kind: ReplyStatus, *, dry_run: bool = False) -> list[str]:
        """Queue the access data or the reminder for every confirmed participant not yet served; exactly once.

        One mail per person (never one mail to many), never to the waitlist; returns the recipients.
        Safe to repeat after a crash: who was served is recorded with the queued mail, in one transaction.
        """
        event = self.events[event_id]
        column = "access_sent_at" if kind is ReplyStatus.ACCESS else "reminder_sent_at"
        now = self.clock()
        with self.db.transaction() as tx:
            tx.lock_event(event_id)
            rows = tx.unserved(event_id, column)
            if dry_run:
                return [r.email or "" for r in rows]
            # An interrupted earlier run: its unsent mails of this kind are due again now (not after a lease).
            tx.release_kind(event_id, kind.value, now)
            for row in rows:
                decision = Decision(
                    reply=kind, status=Status.CONFIRMED, new_registration=False, position=row.position
                )
                self._compose(
                    tx,
                    event=event,
                    decision=decision,
                    recipient=Address(row.name, row.email or ""),
                    registration_id=row.id,
                    ledger_id=row.ledger_id,
                    now=now,
                    original_message_id=row.message_id,
                    subject=self._subject(event, decision),
                )
        if rows:
            log.info("%s: %s mail(s) '%s' queued", event_id, len(rows), kind.value)
        return [r.email or "" for r in rows]

    def scheduled_mailings(self) -> None:
        """Access data at `send_access_at` and reminders at `starts_at - reminder_before`, once each.

        Run by every pass: the database records who was served, so a restart neither skips nor repeats one.
        """
        now = self.clock()
        for event in self.config.events:
            if event.send_access_at is not None and event.send_access_at <= now < event.starts_at:
                self.queue_mailing(event.id, ReplyStatus.ACCESS)
            if (
                event.reminder_before is not None
                and event.starts_at - event.reminder_before <= now < event.starts_at
            ):
                self.queue_mailing(event.id, ReplyStatus.REMINDER)

    # --- the outbox ---------------------------------------------------------------------------------
    def flush_outbox(
        self,
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
        self.pacer.deadline = time.monotonic() + (self.config.bot.poll_interval if wait is None else wait)
        try:
            self._flush_batches(report, on_sent=on_sent, pace=pace, leader=leader)
        finally:
            self._fold_journal()
        return report

    def _fold_journal(self, *, orphaned: bool = False) -> None:
        """Record the replies in the sent journal in the database (see `_journal_folded`)."""
        with self._journal_folded(orphaned=orphaned) as entries:
            if entries:
                with self.db.transaction() as tx:
                    tx.mark_sent(entries)

    @contextlib.contextmanager
    def _journal_folded(self, *, orphaned: bool = False) -> Iterator[list[tuple[int, datetime]]]:
        """The sent journal's entries, for a transaction to record; cleared once it committed.

        Only the process that writes the journal folds it, or the pass-runner at the start of a pass, while
        no sending process of a pass is alive (`orphaned`): a fold clears the file, and a line appended
        between another process's read and its clear would be lost.
        """
        journal = self.journal if orphaned or self.record_to_journal else None
        entries = journal.entries() if journal is not None else []
        yield entries
        if entries and journal is not None:
            journal.clear()

    def _flush_batches(
        self, report: FlushReport, *, on_sent: Callable[[], None] | None, pace: float, leader: bool
    ) -> None:
        per_hour = self.config.bot.max_replies_per_hour
        while not self.stop.is_set():
            batch = self._batch_size(pace)
            now = self.clock()
            held = ""  # why sending pauses now ('' when it does not)
            with self._journal_folded() as entries, self.db.transaction() as tx:
                tx.mark_sent(entries)  # the last batch's replies, before they count against the hourly limit
                sent_last_hour = tx.sent_since(now - timedelta(hours=1))
                allowed = per_hour - sent_last_hour
                rows = []
                if allowed <= 0:
                    held = f"[bot] max_replies_per_hour ({per_hour}) reached"
                else:
                    lease_until = now + SEND_LEASE
                    rows = tx.claim_due_outbox(now, min(batch, allowed), lease_until)
                    rows, held = self._storm_check(tx, now, rows, sent_last_hour)
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
                    self._pause(now, held, sent_last_hour, pending)
                break
            if not mails:
                break
            started, interval = time.monotonic(), self.pacer.interval
            outcome = self._send(mails, {r.id: r.attempts for r in rows}, report, on_sent=on_sent, pace=pace)
            if self.pacer.interval > interval:
                self._record_throttle()
            if outcome == "failed":
                break
            self._seconds_per_mail = (time.monotonic() - started) / len(mails)
            if outcome == "throttled":
                continue  # the throttled reply and the rest again, at the slower pace
            if outcome == "halted" or len(mails) < batch:
                break  # past the pacer's deadline: the rest goes in the next flush

    def _storm_check(
        self, tx: Tx, now: datetime, rows: list[ClaimedReply], sent_last_hour: int
    ) -> tuple[list[ClaimedReply], str]:
        """The claimed replies that may go before the last hour looks like a storm (core/storm.py), and why
        the rest (given back, due again) may not: '' when all may go. A rush of distinct people all goes."""
        bot = self.config.bot
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

    def _batch_size(self, pace: float) -> int:
        """How many replies to claim: as many as go out well within the lease (half of it) at the rate seen
        last, or at `pace`; else another sender could claim the rest and send it again. A slow server (shared
        hosting takes a second per mail) gets small batches; the first batch is small until the rate is known.
        """
        per_mail = max(pace, self._seconds_per_mail or 0.0, self.pacer.interval)
        if per_mail <= 0:
            return FIRST_SEND_BATCH if self._seconds_per_mail is None else OUTBOX_BATCH
        return max(1, min(OUTBOX_BATCH, int(SEND_LEASE.total_seconds() / 2 / per_mail)))

    def _send(
        self,
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
            when = self.clock()
            if result.throttled:
                # Not the mail's fault: it goes again first once the slower pace allows (core/pacing.py).
                throttled.append(result.outbox_id)
                handled.add(result.outbox_id)
                report.throttled += 1
                log.info("reply %s: the server asks to slow down (%s)", result.outbox_id, result.error)
                return
            self._record_answer(result, when, attempts[result.outbox_id], report)
            handled.add(result.outbox_id)
            if on_sent is not None:
                on_sent()
            if pace:
                self.stop.wait(pace)

        try:
            self.mailer.send_all(mails, record)
        except (KeyboardInterrupt, SystemExit):
            unsent = [m.outbox_id for m in mails if m.outbox_id not in handled] + throttled
            with self.db.transaction() as tx:
                tx.release(unsent, self.clock())
            raise
        except TemporaryDeliveryError as exc:
            report.error = str(exc)
            when = self.clock()
            with self.db.transaction() as tx:
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
            with self.db.transaction() as tx:
                tx.release(unsent, self.clock())
            return "throttled" if throttled else "halted"
        return "sent"

    def _record_answer(
        self, result: DeliveryResult, when: datetime, attempts: int, report: FlushReport
    ) -> None:
        """Record the server's answer to one reply: sent, or refused (for good, or retried with backoff)."""
        if result.accepted:
            if self.record_to_journal and self.journal is not None:
                self.journal.append(result.outbox_id, when)
            else:
                self.db.mark_sent(result.outbox_id, when)
            report.sent += 1
            return
        with self.db.transaction() as tx:
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

    def _record_throttle(self) -> None:
        """The server slowed us down: keep when and to what pace, for `status` (only then: a write from the
        sending process waits for SQLite's lock, which the pass holds most of the time in a rush)."""
        with self.db.transaction() as tx:
            state = {"at": self.clock().isoformat(), "rate": round(self.pacer.rate, 3)}
            tx.set_state(THROTTLED, json.dumps(state))

    def _pause(self, now: datetime, reason: str, sent: int, pending: int) -> None:
        """Remember the pause and why; the first time, tell the admins by mail (outside the limit, once)."""
        with self.db.transaction() as tx:
            if tx.get_state(PAUSED_SINCE):
                return
            tx.set_state(PAUSED_SINCE, now.isoformat())
            tx.set_state(PAUSE_REASON, reason)
        log.warning("sending paused: %s; %s waiting", reason, pending)
        body = string.Template(self.reply_settings.templates["alert-paused"]).safe_substitute(
            reason=reason, sent=sent, limit=self.config.bot.max_replies_per_hour, pending=pending
        )
        alerts = []
        for number, configured in enumerate(self.config.bot.admin_addresses):
            admin = reply_address(configured)  # an IDN domain in A-labels, as for replies
            alert = replies.build_alert(
                to=admin,
                subject="mailbot: Versand pausiert / sending paused",
                body=body,
                message_id=self.new_message_id(),
                now=now,
                settings=self.reply_settings,
            )
            alerts.append(OutgoingMail(-1 - number, self.config.smtp.sender_address, admin, alert.as_bytes()))
        try:
            self.mailer.send_all(alerts, lambda _result: None)
        except TemporaryDeliveryError as exc:
            log.warning("alert to the admins not sent: %s", exc)


@dataclass
class _ReadAhead:
    """What is read for a whole batch before its transaction decides mail by mail."""

    bodies: dict[int, bytes]  # by UID: the raw mail (those within max_message_bytes)
    hashes: dict[int, str]  # by UID: the content hash (core/identity.py)
    parsed: dict[int, InboundMessage | Exception]  # by UID: the parsed mail, or why it could not be
    known: Known  # the batch's mails the ledger knows by another identity (recognition.py)
    # By UID, the reading of each parsed mail whose headers look like a bounce's; a mail without an entry
    # doesn't (every parsed mail is screened, see Desk._read_bounces).
    bounces: dict[int, BounceReport | None] = field(default_factory=dict)

    def release(self, uid: int) -> None:
        """Let go of a decided mail's body and parse (a batch of 9 MB mails must not pile up in memory)."""
        self.bodies.pop(uid, None)
        self.parsed.pop(uid, None)
        self.bounces.pop(uid, None)

    def senders(self) -> list[str]:
        """The normalised sender addresses of the batch's parsed mails."""
        found = []
        for msg in self.parsed.values():
            if isinstance(msg, InboundMessage) and msg.sender is not None:
                try:
                    address = normalize_address(msg.sender.address)
                except Exception:  # noqa: BLE001, S112 (only a read-ahead: the mail's own turn reports it)
                    continue
                if address:
                    found.append(address)
        return found


def _parse_all(bodies: Mapping[int, bytes]) -> Iterator[tuple[int, InboundMessage | Exception]]:
    """Parse every body of a batch; a failure is kept as the mail's result (never raised here)."""
    for uid, raw in bodies.items():
        try:
            yield uid, parse_message(raw)
        except Exception as exc:  # noqa: BLE001 (each mail's failure is its own: quarantined in its turn)
            yield uid, exc


def backoff(attempt: int) -> timedelta:
    """Retry delay after the n-th failed attempt: 1, 2, 4 ... minutes, at most one hour."""
    return timedelta(minutes=min(60, 2 ** max(0, attempt - 1)))
