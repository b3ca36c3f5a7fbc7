"""The registrations repository: events, seats and waitlist places, mailings served, promotions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from mailbot.adapters.db.audit import AuditRepository
from mailbot.adapters.db.schema import EventRow, RegistrationRow
from mailbot.adapters.db.values import registration_of
from mailbot.core import booking, subaddress
from mailbot.core.model import Event, EventCounts, Existing, ReplyStatus, Status
from mailbot.core.records import SYSTEM_ACTOR, AuditAction, Registration

# Which column records that a registration got a mailing.
_SERVED = {
    ReplyStatus.ACCESS: RegistrationRow.access_sent_at,
    ReplyStatus.REMINDER: RegistrationRow.reminder_sent_at,
}


def count_by_status(session: Session, event_id: str) -> dict[str, int]:
    """How many registrations of the event have each status."""
    rows = session.execute(
        select(RegistrationRow.status, func.count())
        .where(RegistrationRow.event_id == event_id)
        .group_by(RegistrationRow.status)
    ).all()
    return {str(status): int(n) for status, n in rows}


class RegistrationRepository(AuditRepository):
    """Registrations of events: who holds a seat or a waitlist place, in arrival order."""

    def sync_events(self, events: Sequence[Event]) -> None:
        """Insert or update the configured events (an upsert: two processes may start at once)."""
        for ev in events:
            values = {
                "title": ev.title,
                "keyword": ev.keyword,
                "capacity": ev.capacity,
                "starts_at": ev.starts_at,
            }
            self._upsert(EventRow, {"id": ev.id}, values)

    def lock_event(self, event_id: str) -> None:
        """Serialise seat allocation for one event (row lock on PostgreSQL; SQLite's BEGIN IMMEDIATE)."""
        self.session.execute(select(EventRow.id).where(EventRow.id == event_id).with_for_update()).one()

    def counts(self, event_id: str) -> EventCounts:
        """Confirmed, waitlisted and all registrations of the event (read once per transaction)."""
        cached = self._counts.get(event_id)
        if cached is not None:
            return cached
        by_status = count_by_status(self.session, event_id)
        max_position = self.session.scalar(
            select(func.coalesce(func.max(RegistrationRow.position), 0)).where(
                RegistrationRow.event_id == event_id
            )
        )
        counts = EventCounts(
            confirmed=by_status.get(Status.CONFIRMED.value, 0),
            waitlisted=by_status.get(Status.WAITLISTED.value, 0),
            registrations=int(max_position or 0),
        )
        self._counts[event_id] = counts
        return counts

    def existing(self, event_id: str, email_normalized: str) -> Existing | None:
        """The person's active registration for the event, with its current seat or waitlist place."""
        if (event_id, self.person(email_normalized)) in self._unregistered:
            return None
        row = self._active_row(event_id, email_normalized)
        return None if row is None else self._existing(row.event_id, Status(row.status), row.position)

    def existing_of(self, registration: Registration) -> Existing:
        """A registration as the booking sees it: status, position, current seat or waitlist place."""
        return self._existing(registration.event_id, registration.status, registration.position)

    def _existing(self, event_id: str, status: Status, position: int) -> Existing:
        ahead = self.session.scalar(
            select(func.count()).where(
                RegistrationRow.event_id == event_id,
                RegistrationRow.status == status.value,
                RegistrationRow.position < position,
            )
        )
        return booking.standing(status, position, int(ahead or 0))

    def add_registration(
        self,
        *,
        event_id: str,
        position: int,
        status: Status,
        name: str,
        email: str | None,
        email_normalized: str | None,
        channel: str,
        received_at: datetime,
        ledger_id: int | None,
        message_id: str | None,
        now: datetime,
        actor: str,
        phone: str | None = None,
    ) -> int:
        """Insert a registration (and its audit entry); returns its id."""
        registration_id = self._insert(
            RegistrationRow,
            event_id=event_id,
            position=position,
            status=status.value,
            name=name,
            email=email,
            email_normalized=email_normalized,
            email_folded=subaddress.fold(email_normalized) if email_normalized else None,
            phone=phone,
            channel=channel,
            received_at=received_at,
            ledger_id=ledger_id,
            message_id=message_id,
            created_at=now,
        )
        self._count_change(event_id, None, status, position)
        if email_normalized:
            self._unregistered.discard((event_id, self.person(email_normalized)))
        self.audit(
            event_id,
            registration_id,
            actor=actor,
            action=AuditAction.REGISTERED.value,
            old=None,
            new=status.value,
            now=now,
            detail=f"channel {channel}, position {position}",
        )
        return registration_id

    def cancel_row(self, registration: Registration, now: datetime, actor: str) -> int:
        """Cancel one registration (audited); returns its id."""
        row = self.session.get(RegistrationRow, registration.id)
        assert row is not None
        old = row.status
        row.status = Status.CANCELLED.value
        row.cancelled_at = now
        self._count_change(row.event_id, Status(old), Status.CANCELLED)
        self.audit(
            row.event_id,
            row.id,
            actor=actor,
            action=AuditAction.CANCELLED.value,
            old=old,
            new=row.status,
            now=now,
        )
        return row.id

    def registration(self, registration_id: int) -> Registration | None:
        """A registration by id."""
        row = self.session.get(RegistrationRow, registration_id)
        return None if row is None else registration_of(row)

    def registrations(self, event_id: str, status: str | None = None) -> list[Registration]:
        """An event's registrations in arrival order, optionally of one status."""
        query = select(RegistrationRow).where(RegistrationRow.event_id == event_id)
        if status:
            query = query.where(RegistrationRow.status == status)
        return [registration_of(r) for r in self.session.scalars(query.order_by(RegistrationRow.position))]

    def active_by_phone(self, event_id: str, phone: str) -> Registration | None:
        """The active registration with this phone number (phone registrations without email)."""
        row = self._active(event_id, RegistrationRow.phone == phone)
        return None if row is None else registration_of(row)

    def last_received(self, event_id: str) -> datetime | None:
        """When the event's latest registration (of any status) was received; None without any."""
        found = self.session.scalar(
            select(func.max(RegistrationRow.received_at)).where(RegistrationRow.event_id == event_id)
        )
        if found is None:
            return None
        return found if found.tzinfo is not None else found.replace(tzinfo=UTC)

    def unserved(self, event_id: str, mailing: ReplyStatus) -> list[Registration]:
        """Confirmed registrations with an address that haven't had this mailing (access or reminder) yet."""
        served = _SERVED[mailing]
        query = (
            select(RegistrationRow)
            .where(
                RegistrationRow.event_id == event_id,
                RegistrationRow.status == Status.CONFIRMED.value,
                RegistrationRow.email.is_not(None),
                served.is_(None),
            )
            .order_by(RegistrationRow.position)
        )
        return [registration_of(r) for r in self.session.scalars(query)]

    def mark_served(self, registration_id: int, mailing: ReplyStatus, now: datetime) -> None:
        """Record that a registration got a mailing (access or reminder)."""
        row = self.session.get(RegistrationRow, registration_id)
        column = _SERVED[mailing].key
        if row is not None and getattr(row, column) is None:
            setattr(row, column, now)
            if mailing is ReplyStatus.ACCESS:
                self._access_started.add(row.event_id)

    def access_started(self, event_id: str) -> bool:
        """Whether the access data of the event has gone out to anyone (once known, not asked again)."""
        if event_id in self._access_started:
            return True
        started = self.session.scalar(
            select(RegistrationRow.id)
            .where(RegistrationRow.event_id == event_id, RegistrationRow.access_sent_at.is_not(None))
            .limit(1)
        )
        if started is not None:
            self._access_started.add(event_id)
        return started is not None

    def active_row(self, event_id: str, email_normalized: str) -> Registration | None:
        """The person's active registration for the event, or None (the +tag folded if configured)."""
        row = self._active_row(event_id, email_normalized)
        return None if row is None else registration_of(row)

    def _active_row(self, event_id: str, email_normalized: str) -> RegistrationRow | None:
        return self._active(event_id, self._person_column() == self.person(email_normalized))

    def _active(self, event_id: str, who: ColumnElement[bool]) -> RegistrationRow | None:
        """The event's active (not cancelled) registration matching `who`, or None."""
        return self.session.scalars(
            select(RegistrationRow).where(
                RegistrationRow.event_id == event_id, who, RegistrationRow.status != Status.CANCELLED.value
            )
        ).first()

    def waitlist_head(self, event_id: str, count: int) -> list[Registration]:
        """The first `count` waitlisted registrations in arrival order (strict FIFO)."""
        if count <= 0:
            return []
        query = (
            select(RegistrationRow)
            .where(RegistrationRow.event_id == event_id, RegistrationRow.status == Status.WAITLISTED.value)
            .order_by(RegistrationRow.position)
            .limit(count)
        )
        return [registration_of(r) for r in self.session.scalars(query)]

    def promote(self, registration_id: int, now: datetime) -> int:
        """Give a waitlisted registration a seat (audited); returns its seat number among the confirmed."""
        row = self.session.get(RegistrationRow, registration_id)
        assert row is not None
        self._count_change(row.event_id, Status(row.status), Status.CONFIRMED)
        row.status = Status.CONFIRMED.value
        row.promoted_at = now
        self.audit(
            row.event_id,
            row.id,
            actor=SYSTEM_ACTOR,
            action=AuditAction.PROMOTED.value,
            old=Status.WAITLISTED.value,
            new=row.status,
            now=now,
            detail="a seat became free",
        )
        return self._existing(row.event_id, Status.CONFIRMED, row.position).seat or 0
