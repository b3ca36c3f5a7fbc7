"""The audit repository: who changed which registration, when, from which status to which."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from mailbot.adapters.db.schema import AuditRow, RegistrationRow
from mailbot.adapters.db.unit_of_work import TxBase
from mailbot.adapters.db.values import audit_entry_of, registration_of
from mailbot.core.records import AuditEntry, Registration


class AuditRepository(TxBase):
    """The audit log of registrations (invariant 9)."""

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
        """Write one audit entry for a registration."""
        self._insert(
            AuditRow,
            at=now,
            event_id=event_id,
            registration_id=registration_id,
            actor=actor,
            action=action,
            old_status=old,
            new_status=new,
            detail=detail,
        )

    def history(
        self, event_id: str, email_normalized: str | None = None
    ) -> list[tuple[AuditEntry, Registration]]:
        """Audit entries of an event (or of one person in it), oldest first, with their registration."""
        query = (
            select(AuditRow, RegistrationRow)
            .join(RegistrationRow, AuditRow.registration_id == RegistrationRow.id)
            .where(AuditRow.event_id == event_id)
        )
        if email_normalized:
            query = query.where(RegistrationRow.email_normalized == email_normalized)
        found = self.session.execute(query.order_by(AuditRow.id)).all()
        return [(audit_entry_of(a), registration_of(r)) for a, r in found]
