"""The staff console's use-cases: reads for its pages, changes through the desk's own use-cases."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from mailbot.core.listing import (
    AuditLine,
    FailedReply,
    ListQuery,
    MailingProgress,
    MailTrail,
    RegistrationLine,
    RegistrationPage,
    TriageLine,
)
from mailbot.core.model import Channel, Decision, Event, ReplyStatus
from mailbot.service.desk import Desk
from mailbot.service.exports import export_file
from mailbot.service.reports import TRIAGE_OUTCOMES
from mailbot.service.results import AdminRegistration
from mailbot.service.state_keys import LAST_POLL, PAUSE_REASON, PAUSED_SINCE
from mailbot.service.watchdog import check_health


@dataclass(frozen=True)
class EventNumbers:
    """One event on the dashboard: the numbers `mailbot status` shows, and its registration window."""

    event: Event
    confirmed: int
    free: int
    waitlisted: int
    replies_pending: int
    replies_failed: int
    undeliverable: int

    @property
    def overbooked(self) -> bool:
        """More confirmed than seats (a capacity lowered later: nobody is un-confirmed)."""
        return self.confirmed > self.event.capacity


@dataclass(frozen=True)
class DeskHealth:
    """The desk's health as `mailbot health` and `status` state it: verdict, last poll, sending paused."""

    healthy: bool
    verdict: str
    last_poll: datetime | None
    paused_since: datetime | None
    pause_reason: str
    queued: int


@dataclass(frozen=True)
class Dashboard:
    """Every event's numbers and the desk's health."""

    events: tuple[EventNumbers, ...]
    health: DeskHealth


@dataclass(frozen=True)
class Cancelled:
    """What a cancellation did: the decision (NOT_REGISTERED: nothing to cancel) and who moved up."""

    decision: Decision
    promoted: tuple[RegistrationLine, ...]  # who moved up from the waitlist, each told by mail if we can

    @property
    def done(self) -> bool:
        """Whether a registration was cancelled."""
        return self.decision.reply is ReplyStatus.CANCELLED


def _moment(iso: str | None) -> datetime | None:
    return datetime.fromisoformat(iso) if iso else None


class StaffConsole:
    """The use-cases the console's pages call; every change runs the same Desk use-case as the CLI."""

    def __init__(self, desk: Desk) -> None:
        self.desk = desk
        self.config = desk.config
        self.tz = ZoneInfo(desk.config.bot.timezone)

    def local(self, moment: datetime) -> str:
        """A moment as staff read it: the desk's local time, to the minute."""
        shown = moment.astimezone(self.tz)
        return shown.strftime("%Y-%m-%d %H:%M" if self.config.bot.language == "en" else "%d.%m.%Y %H:%M")

    def event(self, event_id: str) -> Event | None:
        """A configured event, or None."""
        return self.desk.events.get(event_id)

    # --- reads ---------------------------------------------------------------------------------------
    def dashboard(self, now: datetime) -> Dashboard:
        """Every configured event's numbers (as `mailbot status`) and the health (as `mailbot health`)."""
        with self.desk.db.reading() as tx:
            summaries = {s.event_id: s for s in tx.summaries()}
            paused = tx.get_state(PAUSED_SINCE)
            reason = tx.get_state(PAUSE_REASON)
            last_poll = tx.get_state(LAST_POLL)
            queued = tx.pending_replies()
        numbers = []
        for event in self.config.events:
            s = summaries.get(event.id)
            confirmed = s.confirmed if s else 0
            numbers.append(
                EventNumbers(
                    event=event,
                    confirmed=confirmed,
                    free=max(0, event.capacity - confirmed),
                    waitlisted=s.waitlisted if s else 0,
                    replies_pending=s.replies_pending if s else 0,
                    replies_failed=s.replies_failed if s else 0,
                    undeliverable=s.undeliverable if s else 0,
                )
            )
        verdict = check_health(self.desk.db, self.config, now)
        limit = self.config.bot.max_replies_per_hour
        health = DeskHealth(
            healthy=verdict.healthy,
            verdict=verdict.line,
            last_poll=_moment(last_poll),
            paused_since=_moment(paused),
            pause_reason=(reason or f"[bot] max_replies_per_hour ({limit}) reached") if paused else "",
            queued=queued,
        )
        return Dashboard(tuple(numbers), health)

    def registrations(self, event_id: str, query: ListQuery) -> RegistrationPage:
        """A page of the event's list (arrival order; status filter; search by name, address, phone)."""
        with self.desk.db.reading() as tx:
            return tx.registration_page(event_id, query)

    def registration(self, event_id: str, registration_id: int) -> RegistrationLine | None:
        """One registration of the event, or None."""
        with self.desk.db.reading() as tx:
            return tx.registration_line(event_id, registration_id)

    def history(
        self, event_id: str, *, registration_id: int | None = None, page: int = 1
    ) -> tuple[list[AuditLine], int]:
        """The audit history of the event (or of one registration), newest first, by pages."""
        with self.desk.db.reading() as tx:
            return tx.audit_lines(event_id, registration_id=registration_id, page=page)

    def triage(self) -> tuple[list[TriageLine], list[FailedReply]]:
        """What `mailbot triage` lists: mails left alone or not answered, and replies that failed."""
        with self.desk.db.reading() as tx:
            return tx.triage_lines(TRIAGE_OUTCOMES), tx.failed_reply_lines()

    def trail(self, ledger_id: int) -> MailTrail | None:
        """A mail's decision trail (what `mailbot inspect` shows)."""
        with self.desk.db.reading() as tx:
            return tx.mail_trail(ledger_id)

    def export(self, event_id: str, fmt: str, now: datetime) -> bytes:
        """The event's registrations as `mailbot export --event ID [--format xlsx]` writes them."""
        if self.desk.export_files is None:
            raise RuntimeError(
                "this desk was built without export files (bootstrap.build_desk hands them over)"
            )
        return export_file(self.desk.db, self.desk.export_files, self.config, event_id, fmt, now)[0]

    # --- the hotline -----------------------------------------------------------------------------------
    def add_by_phone(
        self,
        event_id: str,
        *,
        name: str,
        phone: str | None,
        email: str | None,
        received_at: datetime | None,
        staff: str,
    ) -> AdminRegistration:
        """A phone registration in arrival order (as `mailbot add`); the reply goes out through the outbox."""
        return self.desk.admin_register(
            event_id,
            name=name,
            email=email,
            phone=phone,
            received_at=received_at,
            channel=Channel.PHONE,
            actor=f"{staff} (web)",
            notify=None,
            check_arrival=True,
        )

    def cancel(self, event_id: str, registration_id: int, *, staff: str) -> Cancelled:
        """Cancel one registration (as `mailbot cancel --id`); the waitlist moves up and is told by mail."""
        decision, _ = self.desk.admin_cancel(
            event_id, email=None, registration_id=registration_id, quiet=False, actor=f"{staff} (web)"
        )
        if decision.reply is not ReplyStatus.CANCELLED:
            return Cancelled(decision, ())
        with self.desk.db.reading() as tx:
            return Cancelled(decision, tuple(tx.promoted_by(event_id, registration_id)))

    # --- the access data ---------------------------------------------------------------------------------
    def access_preview(self, event_id: str) -> list[str]:
        """Who would get the access data now (`mailbot send-access --dry-run`)."""
        return self.desk.queue_mailing(event_id, ReplyStatus.ACCESS, dry_run=True)

    def send_access(self, event_id: str) -> int:
        """Queue the access data for every confirmed participant not yet served (exactly once); how many."""
        return len(self.desk.queue_mailing(event_id, ReplyStatus.ACCESS))

    def access_progress(self, event_id: str) -> MailingProgress:
        """Served, sent, waiting and failed of the event's access-data mailing."""
        with self.desk.db.reading() as tx:
            return tx.mailing_progress(event_id, ReplyStatus.ACCESS)
