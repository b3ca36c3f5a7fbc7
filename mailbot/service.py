"""The imperative shell: one pass over the mailbox, and the outbox flush; per-message error boundary."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email import policy
from zoneinfo import ZoneInfo

from mailbot.adapters.addresses import normalize_address
from mailbot.adapters.db import Database, DuplicateMessageError, Tx
from mailbot.config import Config
from mailbot.core import booking, chain, replies
from mailbot.core.model import (
    Address,
    Arrival,
    Channel,
    Classification,
    Decision,
    InboundMessage,
    Outcome,
    RuleContext,
)
from mailbot.core.parse import MessageParseError, parse_message
from mailbot.errors import TemporaryDeliveryError
from mailbot.ports import (
    Clock,
    DeliveryResult,
    IdFactory,
    Mailbox,
    MailboxFactory,
    Mailer,
    MessageMeta,
    OutgoingMail,
    batched,
)

log = logging.getLogger("mailbot")

PROCESSED_KEYWORD = "$MailbotProcessed"
BODY_BATCH = 100
OUTBOX_BATCH = 500
LAST_POLL = "last_successful_poll"
SEND_LEASE = timedelta(minutes=2)  # a claimed reply is retried after this if its sender died mid-send
# Registration mails are marked/moved after the commit; everything else stays exactly as it was.
_FLAG_OUTCOMES = (Outcome.REGISTERED.value, Outcome.DUPLICATE.value)


def mask(address: str | None) -> str:
    """An address fit for logs: ``a***@example.org`` (no personal data in logs)."""
    if not address or "@" not in address:
        return "-"
    local, _, domain = address.rpartition("@")
    return f"{local[:1]}***@{domain}"


@dataclass
class PassReport:
    """What one pass did, by outcome."""

    outcomes: dict[str, int] = field(default_factory=dict)
    stopped_early: bool = False

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
    ) -> None:
        self.config = config
        self.db = db
        self.mailbox_factory = mailbox_factory
        self.mailer = mailer
        self.clock = clock
        self.new_message_id = new_message_id
        self.stop = stop or threading.Event()
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

    # --- the pass ---------------------------------------------------------------------------------
    def run_once(self) -> tuple[PassReport, FlushReport]:
        """One pass: process every new message, then send every due reply."""
        report = self.poll_once()
        return report, self.flush_outbox()

    def poll_once(self) -> PassReport:
        """Process every message not processed before, in order of arrival (INTERNALDATE, then UID)."""
        report = PassReport()
        with self.db.transaction() as tx:
            tx.sync_events(self.config.events)
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
            for chunk in batched(range(len(metas)), BODY_BATCH):
                batch = [metas[i] for i in chunk]
                to_flag = self._process_batch(mailbox, info.folder, info.uidvalidity, batch, report)
                self._flag(mailbox, info.folder, info.uidvalidity, info.keywords_allowed, to_flag)
                if self.stop.is_set():
                    report.stopped_early = True
                    break
            with self.db.transaction() as tx:
                tx.set_state(LAST_POLL, self.clock().isoformat())
        finally:
            mailbox.close()
        return report

    def _process_batch(
        self,
        mailbox: Mailbox,
        folder: str,
        uidvalidity: int,
        batch: Sequence[MessageMeta],
        report: PassReport,
    ) -> list[int]:
        limit = self.config.bot.max_message_bytes
        bodies = mailbox.fetch_bodies([m.uid for m in batch if m.size <= limit])
        to_flag: list[int] = []
        for meta in batch:
            if self.stop.is_set():
                report.stopped_early = True
                break
            arrival = Arrival(folder, uidvalidity, meta.uid, meta.internaldate, meta.size)
            outcome = self._process_safely(arrival, bodies.get(meta.uid))
            if outcome is None:
                continue
            report.count(outcome)
            if outcome.value in _FLAG_OUTCOMES:
                to_flag.append(meta.uid)
        return to_flag

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

    def _process_safely(self, arrival: Arrival, raw: bytes | None) -> Outcome | None:
        """The per-message boundary: any failure rolls back and quarantines this one message only."""
        parsed: list[InboundMessage] = []  # filled by _process once parsed, so quarantine keeps its identity
        try:
            return self._process(arrival, raw, parsed)
        except DuplicateMessageError:
            return None  # another process recorded it first
        except Exception as exc:  # noqa: BLE001 (the loop must never die on one message: DESIGN 9)
            reason = f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:500]
            log.warning("uid %s quarantined: %s", arrival.uid, reason)
            try:
                self._record(arrival, parsed[0] if parsed else None, Outcome.QUARANTINED, reason, ())
            except DuplicateMessageError:
                return None
            return Outcome.QUARANTINED

    def _record(
        self,
        arrival: Arrival,
        msg: InboundMessage | None,
        outcome: Outcome,
        reason: str,
        hits: Sequence[tuple[str, str]],
    ) -> None:
        """A verdict that needs no booking: the ledger row alone, in its own transaction."""
        with self.db.transaction() as tx:
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
    ) -> int:
        return tx.add_ledger(
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

    def _process(self, arrival: Arrival, raw: bytes | None, parsed: list[InboundMessage]) -> Outcome:
        if raw is None:
            reason = f"{arrival.size} bytes > max_message_bytes {self.config.bot.max_message_bytes}"
            self._record(arrival, None, Outcome.TOO_LARGE, reason, ())
            log.warning("uid %s too large, left for staff: %s", arrival.uid, reason)
            return Outcome.TOO_LARGE
        try:
            msg = parse_message(raw)
        except MessageParseError as exc:
            self._record(arrival, None, Outcome.QUARANTINED, str(exc), ())
            log.warning("uid %s quarantined: %s", arrival.uid, exc)
            return Outcome.QUARANTINED
        parsed.append(msg)
        verdict = chain.classify(msg, self.rule_context, self.keywords)
        hits = tuple((h.rule, h.reason) for h in verdict.hits)
        if verdict.machine is not None:
            self._record(arrival, msg, Outcome.MACHINE, verdict.machine.reason, hits)
            log.info("uid %s not answered (machine): %s", arrival.uid, verdict.machine.reason)
            return Outcome.MACHINE
        if not verdict.event_ids:
            self._record(arrival, msg, Outcome.NOT_REGISTRATION, "no keyword", hits)
            return Outcome.NOT_REGISTRATION
        normalized = normalize_address(msg.sender.address) if msg.sender else None
        if msg.sender is None or normalized is None:
            self._record(arrival, msg, Outcome.REJECTED, "no valid sender address", hits)
            log.warning("uid %s keyword mail without a valid sender address: not answered", arrival.uid)
            return Outcome.REJECTED
        sender = Address(msg.sender.name, msg.sender.address)
        return self._book(arrival, msg=msg, verdict=verdict, sender=sender, normalized=normalized, hits=hits)

    def _book(
        self,
        arrival: Arrival,
        *,
        msg: InboundMessage,
        verdict: Classification,
        sender: Address,
        normalized: str,
        hits: Sequence[tuple[str, str]],
    ) -> Outcome:
        """Ledger row, registrations and replies: one transaction (invariant 5)."""
        now = self.clock()
        outcome = Outcome.DUPLICATE
        with self.db.transaction() as tx:
            for event_id in sorted(verdict.event_ids):
                tx.lock_event(event_id)  # serialise seat allocation per event (and take it before the ledger)
            ledger_id = self._ledger(tx, arrival, msg=msg, outcome=Outcome.DUPLICATE, reason="", hits=hits)
            reasons = []
            for event_id in verdict.event_ids:
                event = self.events[event_id]
                decision = booking.decide(event, tx.counts(event_id), tx.existing(event_id, normalized))
                registration_id = None
                if decision.new_registration:
                    outcome = Outcome.REGISTERED
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
                    )
                reasons.append(f"{event_id}: {decision.reply.value}")
                self._queue_reply(
                    tx,
                    msg=msg,
                    recipient=sender,
                    event_id=event_id,
                    decision=decision,
                    registration_id=registration_id,
                    ledger_id=ledger_id,
                    now=now,
                )
            tx.set_ledger_outcome(ledger_id, outcome.value, "; ".join(reasons))
        log.info("uid %s from %s: %s", arrival.uid, mask(sender.address), "; ".join(reasons))
        return outcome

    def _queue_reply(
        self,
        tx: Tx,
        *,
        msg: InboundMessage,
        recipient: Address,
        event_id: str,
        decision: Decision,
        registration_id: int | None,
        ledger_id: int,
        now: datetime,
    ) -> None:
        message_id = self.new_message_id()
        reply = replies.build_reply(
            event=self.events[event_id],
            decision=decision,
            recipient=recipient,
            original_subject=msg.subject,
            original_message_id=msg.message_id,
            original_references=msg.references,
            message_id=message_id,
            now=now,
            settings=self.reply_settings,
        )
        tx.add_outbox(
            event_id=event_id,
            registration_id=registration_id,
            ledger_id=ledger_id,
            kind=decision.reply.value,
            envelope_from=self.config.smtp.sender_address,
            recipient=recipient.address,
            message_id=message_id,
            data=reply.as_bytes(policy=policy.SMTP),
            now=now,
        )

    # --- the outbox ---------------------------------------------------------------------------------
    def flush_outbox(self) -> FlushReport:
        """Send every due reply over one connection per batch; mark each as the server answers."""
        report = FlushReport()
        while not self.stop.is_set():
            now = self.clock()
            with self.db.transaction() as tx:
                rows = tx.claim_due_outbox(now, OUTBOX_BATCH, now + SEND_LEASE)
                mails = [OutgoingMail(r.id, r.envelope_from, r.recipient, r.data) for r in rows]
            if not mails:
                break
            attempts = {r.id: r.attempts for r in rows}
            handled: set[int] = set()

            def record(
                result: DeliveryResult, attempts: dict[int, int] = attempts, handled: set[int] = handled
            ) -> None:
                when = self.clock()
                with self.db.transaction() as tx:
                    if result.accepted:
                        tx.mark_sent(result.outbox_id, when)
                        report.sent += 1
                    else:
                        retry = when + backoff(attempts[result.outbox_id] + 1)
                        tx.mark_failed(
                            result.outbox_id, when, result.error, permanent=result.permanent, retry_at=retry
                        )
                        if result.permanent:
                            report.failed += 1
                        else:
                            report.deferred += 1
                        log.warning("reply %s refused: %s", result.outbox_id, result.error)
                handled.add(result.outbox_id)

            try:
                self.mailer.send_all(mails, record)
            except TemporaryDeliveryError as exc:
                report.error = str(exc)
                when = self.clock()
                with self.db.transaction() as tx:
                    for mail in mails:
                        if mail.outbox_id not in handled:
                            tx.mark_failed(
                                mail.outbox_id,
                                when,
                                str(exc),
                                permanent=False,
                                retry_at=when + backoff(attempts[mail.outbox_id] + 1),
                            )
                            report.deferred += 1
                log.warning("sending paused: %s", exc)
                break
            if len(mails) < OUTBOX_BATCH:
                break
        return report


def backoff(attempt: int) -> timedelta:
    """Retry delay after the n-th failed attempt: 1, 2, 4 ... minutes, at most one hour."""
    return timedelta(minutes=min(60, 2 ** max(0, attempt - 1)))
