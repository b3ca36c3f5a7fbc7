"""Privacy (DSGVO): erase personal data after each event's retention, forget a person, show what is stored."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email import policy
from email.parser import BytesParser
from typing import TYPE_CHECKING

from mailbot.adapters import erasure
from mailbot.adapters.addresses import normalize_address
from mailbot.adapters.db import AuditRow, Database, LedgerRow, OutboxRow, RegistrationRow, Tx
from mailbot.core.model import Event, ReplyStatus, Status
from mailbot.errors import MailbotError

if TYPE_CHECKING:
    from mailbot.service import Desk

log = logging.getLogger("mailbot")

# What erased text fields hold: recognisable in `list`, the CSV and `history`, and the mark of an erased row
# (a registration whose name is this and which has no address, phone or Message-ID is done).
ERASED = "[gelöscht]"
# Events the database knows but the config no longer lists keep the default retention of Event.
DEFAULT_RETENTION = timedelta(days=Event.delete_after_days)
# A reply queued this recently is still sent (a late mail about a past event gets its answer) and erased by a
# later purge; an older one that is still unsent is withdrawn: it will never go out.
SEND_GRACE = timedelta(days=1)
WITHDRAWN = "not sent: personal data erased"
RETENTION_ACTOR = "system (retention)"
FORGET_ACTOR = "admin (mailbot forget)"
OTHER_PERSON = "[…]"  # another person's (masked) address in a data export

# An address in free text, masked (``a***@example.org``, ``MAILER-DAEMON@…``) or not.
_ADDRESS = re.compile(r"[^\s<>()\[\]{}'\",;:]*@[^\s<>()\[\]{}'\",;:]+")
# A quoted snippet of a mail (rules quote subjects, sender names and lines as Python reprs).
_QUOTED = re.compile(r"'(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\"")


def mask(address: str | None) -> str:
    """An address fit for logs and output, as service.mask (imported late: the service may import us)."""
    from mailbot.service import mask as service_mask  # noqa: PLC0415

    return service_mask(address)


def scrub(text: str) -> str:
    """Free text without any address (masked or not): each becomes ``[gelöscht]``."""
    return _ADDRESS.sub(ERASED, text)


def scrub_reason(text: str) -> str:
    """A ledger reason or rule hit without addresses and without quoted snippets of the mail."""
    return scrub(_QUOTED.sub(f"'{ERASED}'", text))


def _scrub_hits(rule_hits: str) -> str:
    """The JSON list of [rule, reason] with every reason scrubbed (the same text if nothing changed)."""
    try:
        hits = json.loads(rule_hits or "[]")
        cleaned = [[rule, scrub_reason(reason)] for rule, reason in hits]
    except (ValueError, TypeError):
        return scrub_reason(rule_hits)
    return rule_hits if cleaned == hits else json.dumps(cleaned, ensure_ascii=False)


def erase_at(event: Event) -> datetime:
    """When the event's personal data is due for erasure: `delete_after_days` after `starts_at`."""
    return event.starts_at + timedelta(days=event.delete_after_days)


# --- what an erasure did --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Erased:
    """How many rows of each kind an erasure changed (or, in a dry run, would change)."""

    registrations: int = 0
    ledger: int = 0
    replies: int = 0
    withdrawn: int = 0  # of the replies: not sent yet, and now never sent
    audit: int = 0  # audit entries whose actor or detail named an address (entries added are not counted)

    @property
    def total(self) -> int:
        """Rows changed in all."""
        return self.registrations + self.ledger + self.replies + self.audit

    def __add__(self, other: Erased) -> Erased:
        return Erased(
            self.registrations + other.registrations,
            self.ledger + other.ledger,
            self.replies + other.replies,
            self.withdrawn + other.withdrawn,
            self.audit + other.audit,
        )

    def describe(self) -> str:
        """One line for admins, e.g. ``80 registration(s), 88 ledger entry(ies), 83 reply(ies), ...``."""
        text = (
            f"{self.registrations} registration(s), {self.ledger} ledger entry(ies), "
            f"{self.replies} reply(ies), {self.audit} audit entry(ies)"
        )
        return text + (f"; {self.withdrawn} unsent reply(ies) withdrawn" if self.withdrawn else "")


@dataclass(frozen=True)
class EventPurge:
    """One event whose personal data was erased (or would be, in a dry run)."""

    event_id: str
    erase_at: datetime
    erased: Erased


@dataclass(frozen=True)
class PurgeReport:
    """What a purge did: per event due, for old mail tied to no event, and which events are not due yet."""

    events: tuple[EventPurge, ...]
    unlinked: Erased  # ledger rows of mail tied to no event (not-registration, machines, ...)
    unlinked_before: datetime | None  # their cutoff (recorded before it); None: not swept this time
    not_due: tuple[tuple[str, datetime], ...]  # (event id, erase date), soonest first
    dry_run: bool

    @property
    def erased(self) -> Erased:
        """Everything together."""
        total = self.unlinked
        for item in self.events:
            total += item.erased
        return total


@dataclass(frozen=True)
class ForgetReport:
    """What `forget` did for one person (right to erasure, Art. 17 DSGVO)."""

    masked: str  # the address, masked, for output and logs
    cancelled: tuple[str, ...]  # events whose active registration was cancelled first (seat given on)
    promoted: tuple[str, ...]  # who moved up into a freed seat (lines as `cancel` prints them)
    erased: Erased


class _Eraser:
    """Applies (or, in a dry run, only counts) the erasure of single rows, in one transaction.

    Every change is computed first and applied only where a value differs, so erasing twice changes nothing
    the second time and counts nothing.
    """

    def __init__(
        self,
        tx: Tx,
        now: datetime,
        *,
        dry_run: bool,
        actor: str,
        detail: str,
        keep_unsent_since: datetime | None,
    ) -> None:
        self.tx, self.now, self.dry_run = tx, now, dry_run
        self.actor, self.detail = actor, detail
        self.keep_unsent_since = keep_unsent_since  # unsent replies created since then stay; None: none stay
        self.registrations = self.ledger = self.replies = self.withdrawn = self.audits = 0

    def result(self) -> Erased:
        """The counts so far."""
        return Erased(self.registrations, self.ledger, self.replies, self.withdrawn, self.audits)

    def _apply(self, row: object, changes: Mapping[str, object]) -> bool:
        diff = {name: value for name, value in changes.items() if getattr(row, name) != value}
        if diff and not self.dry_run:
            for name, value in diff.items():
                setattr(row, name, value)
        return bool(diff)

    def registration(self, row: RegistrationRow) -> None:
        """Name, address, phone and Message-ID go; event, status, position, channel and times stay.

        The erasure is itself audited, so `history` shows when and why the person's data went.
        """
        changes = {
            "name": ERASED,
            "email": None,
            "email_normalized": None,
            "email_folded": None,
            "phone": None,
            "message_id": None,
        }
        if self._apply(row, changes):
            self.registrations += 1
            if not self.dry_run:
                self.tx.audit(
                    row.event_id,
                    row.id,
                    actor=self.actor,
                    action="erased",
                    old=row.status,
                    new=row.status,
                    now=self.now,
                    detail=self.detail,
                )

    def ledger_row(self, row: LedgerRow) -> None:
        """Sender, subject and Message-ID go, and addresses and quotes in the reasons; the identity stays.

        (folder, UIDVALIDITY, UID) keep the mail from being processed again; outcome, intent, times, size,
        the rules that hit and the content hash (a one-way fingerprint) stay.
        """
        changes = {
            "sender": None,
            "message_id": None,
            "subject": ERASED,
            "reason": scrub_reason(row.reason or ""),
            "rule_hits": _scrub_hits(row.rule_hits),
        }
        if self._apply(row, changes):
            self.ledger += 1

    def reply(self, row: OutboxRow) -> None:
        """The recipient and the whole rendered mail go; kind, event, Message-ID (ours) and times stay.

        A reply not sent yet is withdrawn (marked failed, never sent) unless it was queued since
        `keep_unsent_since`: then it stays as it is, goes out, and a later purge erases it.
        """
        unsent = row.sent_at is None and row.failed_at is None
        if unsent and self.keep_unsent_since is not None and row.created_at >= self.keep_unsent_since:
            return
        changes: dict[str, object] = {
            "recipient": ERASED,
            "recipient_normalized": "",
            "data": b"",
            "last_error": scrub(row.last_error) if row.last_error else row.last_error,
        }
        if unsent:
            changes |= {"failed_at": self.now, "last_error": WITHDRAWN}
        if self._apply(row, changes):
            self.replies += 1
            self.withdrawn += int(unsent)

    def audit(self, row: AuditRow) -> None:
        """Addresses (masked ones too) leave the actor and the detail; who did what, when, stays."""
        if self._apply(row, {"actor": scrub(row.actor), "detail": scrub(row.detail or "")}):
            self.audits += 1

    def mention(
        self, row: LedgerRow | AuditRow | OutboxRow, fields: Sequence[str], patterns: Sequence[str]
    ) -> None:
        """Only what the patterns match leaves these text fields of a row that is someone else's."""
        pattern = re.compile("|".join(patterns), re.IGNORECASE)
        changes = {f: pattern.sub(ERASED, getattr(row, f)) for f in fields if getattr(row, f)}
        if self._apply(row, changes):
            if isinstance(row, LedgerRow):
                self.ledger += 1
            elif isinstance(row, AuditRow):
                self.audits += 1
            else:
                self.replies += 1


def _senders_of(tx: Tx, normalized: Collection[str]) -> list[str]:
    """The ledger's senders (as stored) that normalise to one of these addresses."""
    wanted = set(normalized)
    if not wanted:
        return []
    return [s for s in erasure.ledger_senders(tx) if normalize_address(s) in wanted]


# --- retention ------------------------------------------------------------------------------------------


def purge_due(
    db: Database, events: Sequence[Event], now: datetime, *, dry_run: bool = False, compact: bool = True
) -> PurgeReport:
    """Erase the personal data of every event past `starts_at + delete_after_days`, and of old unlinked mail.

    `events` are the configured ones; an event the database knows but the config no longer lists is erased
    after the default 30 days. Mail tied to no event (not the desk's business, machines, held or rejected
    mail) loses its sender, subject and Message-ID once it was recorded longer ago than the longest
    retention configured. Safe to call on every pass: what is erased is not touched again, a reply queued
    in the last day still goes out first, and only an event's erasure (not aged-out mail) is followed by
    compacting the database (`compact`), which drops the old row images the erased values leave behind.
    """
    return _purge(db, events, now, only=None, force=False, dry_run=dry_run, compact=compact)


def purge_event(
    db: Database,
    events: Sequence[Event],
    event_id: str,
    now: datetime,
    *,
    force: bool = False,
    dry_run: bool = False,
    compact: bool = True,
) -> PurgeReport:
    """Erase one event's personal data if it is due, or at once with `force` (whatever its date)."""
    return _purge(db, events, now, only=event_id, force=force, dry_run=dry_run, compact=compact)


def _purge(
    db: Database,
    events: Sequence[Event],
    now: datetime,
    *,
    only: str | None,
    force: bool,
    dry_run: bool,
    compact: bool,
) -> PurgeReport:
    with db.transaction() as tx:
        known = erasure.event_starts(tx)
    plan = {event_id: starts + DEFAULT_RETENTION for event_id, starts in known.items()}
    plan |= {event.id: erase_at(event) for event in events}
    due = {event_id for event_id, at in plan.items() if at <= now}
    if only is not None and force:
        due.add(only)
    targets = sorted(due) if only is None else [only] if only in due else []
    results = []
    for event_id in targets:
        with db.transaction() as tx:
            if event_id in known:
                tx.lock_event(event_id)  # no registration changes under our feet (a mail being booked)
            eraser = _Eraser(
                tx,
                now,
                dry_run=dry_run,
                actor=RETENTION_ACTOR,
                detail="personal data erased "
                + ("on request (mailbot purge --now)" if force else "after retention"),
                keep_unsent_since=None if force else now - SEND_GRACE,
            )
            _erase_event(tx, eraser, event_id, due)
        results.append(EventPurge(event_id, plan[event_id], eraser.result()))
    unlinked, cutoff = Erased(), None
    if only is None:
        cutoff = now - max([timedelta(days=e.delete_after_days) for e in events], default=DEFAULT_RETENTION)
        with db.transaction() as tx:
            eraser = _Eraser(
                tx, now, dry_run=dry_run, actor=RETENTION_ACTOR, detail="", keep_unsent_since=now - SEND_GRACE
            )
            for row in erasure.unlinked_ledger(tx, cutoff, ERASED):
                eraser.ledger_row(row)
        unlinked = eraser.result()
    not_due = sorted(
        ((event_id, at) for event_id, at in plan.items() if event_id not in due and only in (None, event_id)),
        key=lambda item: (item[1], item[0]),
    )
    report = PurgeReport(tuple(results), unlinked, cutoff, tuple(not_due), dry_run)
    if dry_run:
        return report
    for item in report.events:
        if item.erased.total:
            log.info("%s: personal data erased: %s", item.event_id, item.erased.describe())
    if unlinked.total:
        log.info("mail tied to no event: personal data erased: %s", unlinked.describe())
    # Compacting rewrites the whole database: once per event erased, not for the few mails a pass may age out.
    if compact and any(item.erased.total for item in report.events):
        erasure.compact(db)
    return report


def _erase_event(tx: Tx, eraser: _Eraser, event_id: str, due: Collection[str]) -> None:
    """Everything personal about one event, in `tx`: registrations, their mails, replies, audit trail.

    A mail that is also tied to an event not due yet (one mail naming two keywords) keeps its ledger data
    until that event is due too. Other mail from the event's registrants that is tied to no event (a thank
    you, an out-of-office reply) goes with it.
    """
    registrations = erasure.registrations_of_events(tx, [event_id], ERASED)
    ledger_ids = erasure.event_ledger_ids(tx, [event_id])
    people = {r.email_normalized for r in registrations if r.email_normalized}
    ledger_ids |= erasure.ledger_ids_from(tx, _senders_of(tx, people))
    entries = erasure.ledger_rows(tx, ledger_ids, ERASED)  # only those still holding personal data
    links = erasure.ledger_links(tx, [e.id for e in entries])
    allowed = set(due) | {event_id}
    for registration in registrations:
        eraser.registration(registration)
    for reply in erasure.outbox_rows(tx, event_ids=[event_id], erased_mark=ERASED):
        eraser.reply(reply)
    for entry in entries:
        if links.get(entry.id, set()) <= allowed:
            eraser.ledger_row(entry)
    for audit in erasure.audit_rows(tx, event_ids=[event_id], with_address_only=True):
        eraser.audit(audit)


# --- one person -----------------------------------------------------------------------------------------


def forget(desk: Desk, address: str, *, compact: bool = True) -> ForgetReport:
    """Erase one person everywhere (right to erasure): registrations of every event, mails, replies, audit.

    Their active registrations of events that have not started are cancelled first through the desk (the
    waitlist moves up and the promoted people are told; the person gets no mail), so no seat is left held
    by nobody. Registrations of events that started keep their status (the numbers of a past event stay
    true). Replies to them not sent yet are withdrawn. Other people's records that name them (a promotion
    line in the reason of someone's cancellation, a bounce report quoting the address) lose that mention.
    """
    normalized = normalize_address(address)
    if normalized is None:
        raise MailbotError(f"not a valid email address: {mask(address)}")
    now = desk.clock()
    with desk.db.transaction() as tx:
        to_cancel = [
            (r.event_id, r.id)
            for r in erasure.registrations_of_person(tx, normalized)
            if r.status != Status.CANCELLED.value
            and r.event_id in desk.events
            and desk.events[r.event_id].starts_at > now
        ]
    cancelled, promoted = [], []
    for event_id, registration_id in to_cancel:
        decision, lines = desk.admin_cancel(
            event_id, email=None, registration_id=registration_id, quiet=True, actor=FORGET_ACTOR
        )
        if decision.reply is ReplyStatus.CANCELLED:
            cancelled.append(event_id)
            promoted += lines
    with desk.db.transaction() as tx:
        eraser = _Eraser(
            tx,
            now,
            dry_run=False,
            actor=FORGET_ACTOR,
            detail="personal data erased on request (right to erasure)",
            keep_unsent_since=None,
        )
        _erase_person(tx, eraser, normalized)
    erased = eraser.result()
    report = ForgetReport(mask(normalized), tuple(cancelled), tuple(promoted), erased)
    if erased.total:
        log.info("forgot %s: %s", report.masked, erased.describe())
        if compact:
            erasure.compact(desk.db)
    return report


def _erase_person(tx: Tx, eraser: _Eraser, normalized: str) -> None:
    registrations = erasure.registrations_of_person(tx, normalized)
    registration_ids = [r.id for r in registrations]
    replies = erasure.outbox_rows(tx, registration_ids=registration_ids, recipient_normalized=normalized)
    senders = _senders_of(tx, [normalized])
    ledger_ids = {r.ledger_id for r in registrations if r.ledger_id is not None}
    ledger_ids |= {r.ledger_id for r in replies if r.ledger_id is not None}
    ledger_ids |= erasure.ledger_ids_from(tx, senders)
    # How other rows may name them: the address as written anywhere, and promotion lines ("promoted position
    # 3 (a***@example.org)") in the reason of the mail that freed the seat (masked: matched with its context).
    spellings = {normalized, *senders, *(r.email for r in registrations if r.email)}
    spellings |= {r.recipient for r in replies if "@" in r.recipient}
    promotions = {
        (f"{r.event_id}: promoted position {r.position} (", mask(r.email))
        for r in registrations
        if r.promoted_at is not None and r.email
    }
    for registration in registrations:
        eraser.registration(registration)
    for reply in replies:
        eraser.reply(reply)
    for entry in erasure.ledger_rows(tx, ledger_ids):
        eraser.ledger_row(entry)
    for audit in erasure.audit_rows(tx, registration_ids=registration_ids):
        eraser.audit(audit)
    needles = sorted(spellings, key=len, reverse=True)
    patterns = [re.escape(n) for n in needles]
    patterns += [
        rf"(?<={re.escape(before)}){re.escape(masked)}(?=\))" for before, masked in sorted(promotions)
    ]
    ledger, audits, outbox = erasure.mentioning(tx, needles + [f"{b}{m})" for b, m in sorted(promotions)])
    for entry in ledger:
        eraser.mention(entry, ("reason", "rule_hits"), patterns)
    for audit in audits:
        eraser.mention(audit, ("actor", "detail"), patterns)
    for reply in outbox:
        eraser.mention(reply, ("last_error",), patterns)


# --- right of access ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredRegistration:
    """A registration as stored."""

    id: int
    event_id: str
    status: str
    position: int
    channel: str
    name: str
    email: str | None
    phone: str | None
    received_at: datetime
    replied_at: datetime | None
    cancelled_at: datetime | None
    promoted_at: datetime | None
    access_sent_at: datetime | None
    reminder_sent_at: datetime | None
    undeliverable_at: datetime | None


@dataclass(frozen=True)
class StoredReply:
    """A mail the desk sent (or queued) to the person."""

    event_id: str | None
    kind: str
    subject: str
    created_at: datetime
    sent_at: datetime | None
    failed_at: datetime | None
    bounced_at: datetime | None


@dataclass(frozen=True)
class StoredMail:
    """A mail from the person, as the ledger recorded it."""

    received_at: datetime
    processed_at: datetime
    outcome: str
    intent: str | None
    reason: str
    rules: tuple[str, ...]
    subject: str | None
    message_id: str | None


@dataclass(frozen=True)
class StoredChange:
    """An audit entry of one of the person's registrations."""

    at: datetime
    event_id: str
    registration_id: int | None
    action: str
    old_status: str | None
    new_status: str | None
    actor: str
    detail: str


@dataclass(frozen=True)
class PersonData:
    """Everything the database stores about one address (right of access, Art. 15 DSGVO)."""

    address: str
    registrations: tuple[StoredRegistration, ...]
    replies: tuple[StoredReply, ...]
    mails: tuple[StoredMail, ...]
    history: tuple[StoredChange, ...]


def person_data(db: Database, address: str) -> PersonData:
    """What is stored about one person, compared by normalised address; other people's addresses hidden."""
    normalized = normalize_address(address)
    if normalized is None:
        raise MailbotError(f"not a valid email address: {mask(address)}")
    own = {normalized, mask(normalized)}

    def hide_others(text: str) -> str:
        def one(match: re.Match[str]) -> str:
            found = match.group(0)
            return found if found.lower() in own or normalize_address(found) == normalized else OTHER_PERSON

        return _ADDRESS.sub(one, text)

    with db.transaction() as tx:
        registrations = erasure.registrations_of_person(tx, normalized)
        registration_ids = [r.id for r in registrations]
        replies = erasure.outbox_rows(tx, registration_ids=registration_ids, recipient_normalized=normalized)
        ledger_ids = {r.ledger_id for r in registrations if r.ledger_id is not None}
        ledger_ids |= erasure.ledger_ids_from(tx, _senders_of(tx, [normalized]))
        mails = erasure.ledger_rows(tx, ledger_ids)
        history = erasure.audit_rows(tx, registration_ids=registration_ids)
        return PersonData(
            address=normalized,
            registrations=tuple(_stored_registration(r) for r in registrations),
            replies=tuple(
                StoredReply(
                    event_id=r.event_id,
                    kind=r.kind,
                    subject=_subject(r.data),
                    created_at=r.created_at,
                    sent_at=r.sent_at,
                    failed_at=r.failed_at,
                    bounced_at=r.bounced_at,
                )
                for r in replies
            ),
            mails=tuple(
                StoredMail(
                    received_at=m.internaldate,
                    processed_at=m.processed_at,
                    outcome=m.outcome,
                    intent=m.intent,
                    reason=hide_others(m.reason or ""),
                    rules=tuple(f"{rule}: {hide_others(why)}" for rule, why in _hits(m.rule_hits)),
                    subject=m.subject,
                    message_id=m.message_id,
                )
                for m in sorted(mails, key=lambda m: (m.internaldate, m.uid))
            ),
            history=tuple(
                StoredChange(
                    at=a.at,
                    event_id=a.event_id,
                    registration_id=a.registration_id,
                    action=a.action,
                    old_status=a.old_status,
                    new_status=a.new_status,
                    actor=hide_others(a.actor),
                    detail=hide_others(a.detail or ""),
                )
                for a in history
            ),
        )


def _stored_registration(r: RegistrationRow) -> StoredRegistration:
    return StoredRegistration(
        id=r.id,
        event_id=r.event_id,
        status=r.status,
        position=r.position,
        channel=r.channel,
        name=r.name,
        email=r.email,
        phone=r.phone,
        received_at=r.received_at,
        replied_at=r.replied_at,
        cancelled_at=r.cancelled_at,
        promoted_at=r.promoted_at,
        access_sent_at=r.access_sent_at,
        reminder_sent_at=r.reminder_sent_at,
        undeliverable_at=r.undeliverable_at,
    )


def _subject(data: bytes) -> str:
    """The Subject of a rendered mail ('' once erased)."""
    if not data:
        return ""
    return str(BytesParser(policy=policy.default).parsebytes(data, headersonly=True)["Subject"] or "")


def _hits(rule_hits: str) -> Iterable[tuple[str, str]]:
    try:
        return [(str(rule), str(why)) for rule, why in json.loads(rule_hits or "[]")]
    except (ValueError, TypeError):
        return []
