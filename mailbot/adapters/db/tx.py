"""The transaction handed to the service: every repository of one unit of work in one object."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select

from mailbot.adapters.db.ledger import LedgerRepository
from mailbot.adapters.db.outbox import OutboxRepository
from mailbot.adapters.db.privacy import PrivacyRepository
from mailbot.adapters.db.registrations import RegistrationRepository
from mailbot.adapters.db.reports import ReportRepository
from mailbot.adapters.db.schema import RegistrationRow
from mailbot.adapters.db.state import StateRepository
from mailbot.adapters.db.views import ConsoleRepository
from mailbot.core.model import Status


class Tx(
    RegistrationRepository,
    LedgerRepository,
    OutboxRepository,
    StateRepository,
    ReportRepository,
    ConsoleRepository,
    PrivacyRepository,
):
    """The operations of one transaction, in domain words."""

    def prefetch(self, event_ids: Sequence[str], addresses: Sequence[str], replies_since: datetime) -> None:
        """Read ahead for a batch of mails (two queries instead of two per mail): which of these addresses
        hold no registration for these events, and how many replies each got since `replies_since`.

        `existing` and `replies_to` answer from it, kept exact by this transaction's own writes. A reply
        count read ahead may include a reply from the moment between `replies_since` and a mail's own
        "a day ago" (the batch's first mail is read well under a second before its last).
        """
        wanted = sorted(set(addresses))
        if not wanted or not event_ids:
            return
        people = sorted({self.person(a) for a in wanted})
        column = self._person_column()
        active = {
            (str(event), str(person))
            for event, person in self.session.execute(
                select(RegistrationRow.event_id, column).where(
                    RegistrationRow.event_id.in_(list(event_ids)),
                    column.in_(people),
                    RegistrationRow.status != Status.CANCELLED.value,
                )
            )
        }
        self._unregistered = {(e, p) for e in event_ids for p in people if (e, p) not in active}
        self._replies = self._reply_counts(wanted, replies_since)
