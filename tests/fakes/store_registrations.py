"""The fake store's registrations and audit log."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from mailbot.core import booking
from mailbot.core.model import Event, EventCounts, Existing, ReplyStatus, Status
from mailbot.core.records import SYSTEM_ACTOR, AuditAction, AuditEntry, Registration
from tests.fakes.store_data import Base

_SERVED = {ReplyStatus.ACCESS: "access_sent_at", ReplyStatus.REMINDER: "reminder_sent_at"}


class Registrations(Base):
    """Events and their registrations."""

    def sync_events(self, events: Sequence[Event]) -> None:
        """Insert or update the configured events."""
        for ev in events:
            self.d.events[ev.id] = ev

    def lock_event(self, event_id: str) -> None:
        """The event must exist (units of work are serialised already)."""
        if event_id not in self.d.events:
            raise LookupError(event_id)

    def counts(self, event_id: str) -> EventCounts:
        """Confirmed, waitlisted and all registrations of the event."""
        regs = self._of_event(event_id)
        return EventCounts(
            confirmed=sum(r.status is Status.CONFIRMED for r in regs),
            waitlisted=sum(r.status is Status.WAITLISTED for r in regs),
            registrations=max((r.position for r in regs), default=0),
        )

    def existing(self, event_id: str, email_normalized: str) -> Existing | None:
        """The person's active registration as the booking sees it."""
        found = self.active_row(event_id, email_normalized)
        return None if found is None else self.existing_of(found)

    def existing_of(self, registration: Registration) -> Existing:
        """Status, position, current seat or waitlist place."""
        ahead = sum(
            r.status is registration.status and r.position < registration.position
            for r in self._of_event(registration.event_id)
        )
        return booking.standing(registration.status, registration.position, ahead)

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
        """Store a registration and its audit entry."""
        if any(r.position == position for r in self._of_event(event_id)):
            raise ValueError(f"position {position} taken")
        if email_normalized is not None and self.active_row(event_id, email_normalized) is not None:
            raise ValueError("one active registration per person and event")  # as the unique index
        new = Registration(
            id=self._id(),
            event_id=event_id,
            position=position,
            status=status,
            name=name,
            email=email,
            email_normalized=email_normalized,
            channel=channel,
            received_at=received_at,
            ledger_id=ledger_id,
            message_id=message_id,
            created_at=now,
            phone=phone,
        )
        self.d.registrations[new.id] = new
        self.audit(
            event_id,
            new.id,
            actor=actor,
            action=AuditAction.REGISTERED.value,
            old=None,
            new=status.value,
            now=now,
            detail=f"channel {channel}, position {position}",
        )
        return new.id

    def cancel_row(self, registration: Registration, now: datetime, actor: str) -> int:
        """Cancel one registration (audited)."""
        old = self.d.registrations[registration.id]
        self.d.registrations[old.id] = replace(old, status=Status.CANCELLED, cancelled_at=now)
        self.audit(
            old.event_id,
            old.id,
            actor=actor,
            action=AuditAction.CANCELLED.value,
            old=old.status.value,
            new=Status.CANCELLED.value,
            now=now,
        )
        return old.id

    def registration(self, registration_id: int) -> Registration | None:
        """A registration by id."""
        return self.d.registrations.get(registration_id)

    def registrations(self, event_id: str, status: str | None = None) -> list[Registration]:
        """An event's registrations in arrival order."""
        return [r for r in self._of_event(event_id) if not status or r.status == status]

    def _active(self, event_id: str) -> list[Registration]:
        return [r for r in self._of_event(event_id) if r.status is not Status.CANCELLED]

    def active_row(self, event_id: str, email_normalized: str) -> Registration | None:
        """The person's active registration (the +tag folded if configured)."""
        who = self.person(email_normalized)
        found = [
            r for r in self._active(event_id) if r.email_normalized and self.person(r.email_normalized) == who
        ]
        return found[0] if found else None

    def active_by_phone(self, event_id: str, phone: str) -> Registration | None:
        """The active registration with this phone number."""
        return next((r for r in self._active(event_id) if r.phone == phone), None)

    def last_received(self, event_id: str) -> datetime | None:
        """When the latest registration was received."""
        return max((r.received_at for r in self._of_event(event_id)), default=None)

    def unserved(self, event_id: str, mailing: ReplyStatus) -> list[Registration]:
        """Confirmed registrations with an address that haven't had this mailing yet."""
        column = _SERVED[mailing]
        return [
            r
            for r in self._of_event(event_id)
            if r.status is Status.CONFIRMED and r.email is not None and getattr(r, column) is None
        ]

    def mark_served(self, registration_id: int, mailing: ReplyStatus, now: datetime) -> None:
        """Record that a registration got a mailing."""
        found = self.d.registrations.get(registration_id)
        column = _SERVED[mailing]
        if found is None or getattr(found, column) is not None:
            return
        served = (
            replace(found, access_sent_at=now)
            if mailing is ReplyStatus.ACCESS
            else replace(found, reminder_sent_at=now)
        )
        self.d.registrations[registration_id] = served

    def access_started(self, event_id: str) -> bool:
        """Whether the access data has gone out to anyone."""
        return any(r.access_sent_at is not None for r in self._of_event(event_id))

    def waitlist_head(self, event_id: str, count: int) -> list[Registration]:
        """The first `count` waitlisted registrations (strict FIFO)."""
        return [r for r in self._of_event(event_id) if r.status is Status.WAITLISTED][: max(count, 0)]

    def promote(self, registration_id: int, now: datetime) -> int:
        """Give a waitlisted registration a seat (audited); its seat number."""
        old = self.d.registrations[registration_id]
        promoted = replace(old, status=Status.CONFIRMED, promoted_at=now)
        self.d.registrations[registration_id] = promoted
        self.audit(
            old.event_id,
            old.id,
            actor=SYSTEM_ACTOR,
            action=AuditAction.PROMOTED.value,
            old=Status.WAITLISTED.value,
            new=Status.CONFIRMED.value,
            now=now,
            detail="a seat became free",
        )
        return self.existing_of(promoted).seat or 0

    def history(
        self, event_id: str, email_normalized: str | None = None
    ) -> list[tuple[AuditEntry, Registration]]:
        """Audit entries of an event (or of one person in it), oldest first."""
        found = []
        for entry in sorted(self.d.audit.values(), key=lambda a: a.id):
            reg = self.d.registrations.get(entry.registration_id or 0)
            if entry.event_id != event_id or reg is None:
                continue
            if email_normalized and reg.email_normalized != email_normalized:
                continue
            found.append((entry, reg))
        return found

    def audit(
        self,
        event_id: str,
        registration_id: int,
        *,
        actor: str,
        action: str,
        old: str | None,
        new: str | None,
        now: datetime,
        detail: str = "",
    ) -> None:
        """Write one audit entry."""
        entry = AuditEntry(
            id=self._id(),
            at=now,
            event_id=event_id,
            registration_id=registration_id,
            actor=actor,
            action=action,
            old_status=old,
            new_status=new,
            detail=detail,
        )
        self.d.audit[entry.id] = entry
