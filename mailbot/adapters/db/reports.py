"""The reports repository: per-event summaries, triage, exports (read-only views for admins)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from sqlalchemy import func, select

from mailbot.adapters.db.registrations import count_by_status
from mailbot.adapters.db.schema import EventRow, LedgerRow, OutboxRow, RegistrationRow
from mailbot.adapters.db.unit_of_work import TxBase
from mailbot.adapters.db.values import failed_reply_of, ledger_entry_of
from mailbot.core import booking
from mailbot.core.model import ExportRow, Status
from mailbot.core.records import EventSummary, FailedReply, LedgerEntry, reply_state


class ReportRepository(TxBase):
    """What `mailbot status`, triage and the exports read."""

    def summaries(self) -> list[EventSummary]:
        """Per event: capacity, confirmed, waitlisted, cancelled, replies pending and failed."""
        result = []
        for ev in self.session.scalars(select(EventRow).order_by(EventRow.starts_at, EventRow.id)):
            by_status = count_by_status(self.session, ev.id)
            pending = self.session.scalar(
                select(func.count()).where(
                    OutboxRow.event_id == ev.id, OutboxRow.sent_at.is_(None), OutboxRow.failed_at.is_(None)
                )
            )
            failed = self.session.scalar(
                select(func.count()).where(OutboxRow.event_id == ev.id, OutboxRow.failed_at.is_not(None))
            )
            result.append(
                EventSummary(
                    event_id=ev.id,
                    capacity=ev.capacity,
                    confirmed=int(by_status.get(Status.CONFIRMED.value, 0)),
                    waitlisted=int(by_status.get(Status.WAITLISTED.value, 0)),
                    cancelled=int(by_status.get(Status.CANCELLED.value, 0)),
                    replies_pending=int(pending or 0),
                    replies_failed=int(failed or 0),
                    undeliverable=int(
                        self.session.scalar(
                            select(func.count()).where(
                                RegistrationRow.event_id == ev.id,
                                RegistrationRow.undeliverable_at.is_not(None),
                            )
                        )
                        or 0
                    ),
                )
            )
        return result

    def triage(self, outcomes: Sequence[str]) -> list[LedgerEntry]:
        """Entries that need a person: these outcomes, or replies held back by a limit; oldest first."""
        query = (
            select(LedgerRow)
            .where(LedgerRow.outcome.in_(list(outcomes)) | LedgerRow.reason.contains("suppressed"))
            .order_by(LedgerRow.internaldate, LedgerRow.uid)
        )
        return [ledger_entry_of(r) for r in self.session.scalars(query)]

    def failed_replies(self) -> list[FailedReply]:
        """Replies the SMTP server refused for good, oldest first."""
        query = select(OutboxRow).where(OutboxRow.failed_at.is_not(None)).order_by(OutboxRow.id)
        return [failed_reply_of(r) for r in self.session.scalars(query)]

    def ledger_counts(self) -> dict[str, int]:
        """How many messages the ledger holds per outcome."""
        return {
            str(k): int(v)
            for k, v in self.session.execute(
                select(LedgerRow.outcome, func.count()).group_by(LedgerRow.outcome)
            ).all()
        }

    def export_rows(self, event_id: str | None) -> list[ExportRow]:
        """Registrations in arrival order (per event), with the state of the latest reply, for the CSV."""
        query = select(RegistrationRow).order_by(RegistrationRow.event_id, RegistrationRow.position)
        if event_id is not None:
            query = query.where(RegistrationRow.event_id == event_id)
        latest: dict[int, OutboxRow] = {}
        for row in self.session.scalars(
            select(OutboxRow).where(OutboxRow.registration_id.is_not(None)).order_by(OutboxRow.id)
        ):
            latest[row.registration_id or 0] = row
        registrations = list(self.session.scalars(query))
        seats: list[tuple[int | None, int | None]] = []
        for _, group in itertools.groupby(registrations, key=lambda r: r.event_id):
            seats += booking.places([r.status for r in group])
        return [
            ExportRow(
                event_id=r.event_id,
                position=r.position,
                status=r.status,
                name=r.name,
                email=r.email or "",
                phone=r.phone or "",
                channel=r.channel,
                received_at=r.received_at,
                replied_at=r.replied_at,
                reply_status=_reply_status(r, latest.get(r.id)),
                cancelled_at=r.cancelled_at,
                promoted_at=r.promoted_at,
                seat=seat,
                waitlist_place=place,
            )
            for r, (seat, place) in zip(registrations, seats, strict=True)
        ]


def _reply_status(registration: RegistrationRow, reply: OutboxRow | None) -> str:
    """The state of the latest reply about a registration (core.records.reply_state)."""
    if reply is None:
        return reply_state(undeliverable=registration.undeliverable_at is not None, sent=None, failed=None)
    return reply_state(
        undeliverable=registration.undeliverable_at is not None,
        sent=reply.sent_at is not None,
        failed=reply.failed_at is not None,
    )
