"""The desk: one entry point for the CLI, the console and the tests, delegating to the use-case modules."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from mailbot.core.model import Channel, Decision, ReplyStatus
from mailbot.ports import Mailbox, MailboxInfo, MessageMeta
from mailbot.ports.store import UnitOfWork
from mailbot.service import intake, mailings, outbox, registrations
from mailbot.service.context import Context
from mailbot.service.results import AdminRegistration, FlushReport, PassReport

__all__ = ["Desk"]


class Desk(Context):
    """The registration desk: reads the mailbox, books seats, queues and sends replies."""

    def run_once(self) -> tuple[PassReport, FlushReport]:
        """One pass (all new mail, all due replies); skipped while another process holds the leader lock."""
        return intake.run_once(self)

    def poll_once(self) -> PassReport:
        """Process every message not processed before, in order of arrival (INTERNALDATE, then UID)."""
        return intake.poll_once(self)

    def decide_again(
        self, mailbox: Mailbox, info: MailboxInfo, metas: Sequence[MessageMeta], late: Mapping[int, str]
    ) -> PassReport:
        """Decide these mails again (`mailbot retry`) in arrival order (see intake.decide_again)."""
        return intake.decide_again(self, mailbox, info, metas, late)

    def promote_all(self) -> None:
        """Fill free seats from the waitlists (after a capacity was raised, or a seat freed elsewhere)."""
        registrations.promote_all(self)

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
        tx: UnitOfWork | None = None,
        notify: bool | None = True,
        check_arrival: bool = False,
    ) -> AdminRegistration:
        """Record a registration from the hotline or an admin (see registrations.admin_register)."""
        return registrations.admin_register(
            self,
            event_id,
            name=name,
            email=email,
            phone=phone,
            received_at=received_at,
            channel=channel,
            actor=actor,
            tx=tx,
            notify=notify,
            check_arrival=check_arrival,
        )

    def admin_cancel(
        self, event_id: str, *, email: str | None, registration_id: int | None, quiet: bool, actor: str
    ) -> tuple[Decision, list[str]]:
        """Cancel a registration by address or id; the waitlist moves up (see registrations.admin_cancel)."""
        return registrations.admin_cancel(
            self, event_id, email=email, registration_id=registration_id, quiet=quiet, actor=actor
        )

    def queue_mailing(self, event_id: str, kind: ReplyStatus, *, dry_run: bool = False) -> list[str]:
        """Queue the access data or the reminder for every confirmed participant not yet served, once."""
        return mailings.queue_mailing(self, event_id, kind, dry_run=dry_run)

    def scheduled_mailings(self) -> None:
        """Access data at `send_access_at` and reminders before the start, once each."""
        mailings.scheduled_mailings(self)

    def flush_outbox(
        self,
        *,
        on_sent: Callable[[], None] | None = None,
        pace: float = 0.0,
        leader: bool = False,
        wait: float | None = None,
    ) -> FlushReport:
        """Send every due reply (see outbox.flush_outbox; `wait=math.inf`: until all went out)."""
        return outbox.flush_outbox(self, on_sent=on_sent, pace=pace, leader=leader, wait=wait)
