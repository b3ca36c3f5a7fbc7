"""The console repository: an event's list by pages, audit lines, triage, a mail's trail, a mailing."""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlalchemy import ColumnElement, func, or_, select

from mailbot.adapters.db.reports import _reply_status
from mailbot.adapters.db.schema import AuditRow, LedgerRow, OutboxRow, RegistrationRow
from mailbot.adapters.db.unit_of_work import TxBase
from mailbot.core.listing import (
    PAGE_SIZE,
    AuditLine,
    FailedReply,
    ListQuery,
    MailingProgress,
    MailTrail,
    RegistrationLine,
    RegistrationPage,
    TriageLine,
)
from mailbot.core.model import ReplyStatus, Status
from mailbot.core.records import AuditAction

_R = RegistrationRow
_PLACED = (Status.CONFIRMED.value, Status.WAITLISTED.value)
_MAX_POSITION = 2**31 - 1  # above any arrival number (an Integer column)
_NEAR = 200  # arrivals between two rows of a page walked one by one; further apart they are counted


def _like(text: str) -> str:
    """A LIKE pattern finding `text` anywhere, its own % and _ taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _runs(rows: Sequence[RegistrationRow]) -> list[list[RegistrationRow]]:
    """Rows (in arrival order) grouped where each is at most _NEAR arrivals after the one before."""
    runs: list[list[RegistrationRow]] = []
    for row in rows:
        if runs and row.position - runs[-1][-1].position <= _NEAR:
            runs[-1].append(row)
        else:
            runs.append([row])
    return runs


class ConsoleRepository(TxBase):
    """What the staff console reads: pages of 100 by LIMIT/OFFSET on indexes, never a whole list."""

    def registration_page(self, event_id: str, query: ListQuery) -> RegistrationPage:
        """A page of the event's registrations in arrival order, filtered by status and a search text."""
        where: list[ColumnElement[bool]] = [_R.event_id == event_id]
        if query.status:
            where.append(_R.status == query.status)
        page = max(1, query.page)
        offset = (page - 1) * PAGE_SIZE
        ids = select(_R.id).where(*where).order_by(_R.position)
        text = query.search.strip()
        totals: dict[str, int] = {}  # matches per status, counted for a page late in the event
        late = False  # a page in the event's back half: placed counted from the event's end
        if text:
            where.append(self._search(text))
            # One scan of the event finds the matches (ids only); the page is a slice of them.
            matching = list(self.session.scalars(ids.where(where[-1])))
            total, page_ids = len(matching), matching[offset : offset + PAGE_SIZE]
        else:
            # Counted and paged on the indexes; only the page's rows are read (a deferred join).
            last = self.session.scalar(select(func.max(_R.position)).where(_R.event_id == event_id))
            late = offset > (last or 0) // 2
            if late:
                by_status = self.session.execute(
                    select(_R.status, func.count()).where(*where).group_by(_R.status)
                )
                totals = {str(status): int(n) for status, n in by_status}
                total = sum(totals.values())
            else:
                total = int(self.session.scalar(select(func.count()).select_from(_R).where(*where)) or 0)
            page_ids = self._page_ids(where, offset, total)
        rows = list(self.session.scalars(select(_R).where(_R.id.in_(page_ids)).order_by(_R.position)))
        places = self._places_from_end(event_id, rows, totals) if late else self._places(event_id, rows)
        replies = self._latest_replies(page_ids)
        lines = tuple(self._line(r, places.get(r.id), replies.get(r.id)) for r in rows)
        return RegistrationPage(lines=lines, total=total, page=page)

    def _page_ids(self, where: list[ColumnElement[bool]], offset: int, total: int) -> list[int]:
        """Ids of the page starting `offset` rows into the matches (arrival order); a page in the back half
        is taken from the end (descending), so the OFFSET walks at most half of the index."""
        ids = select(_R.id).where(*where)
        if offset <= total // 2:
            return list(self.session.scalars(ids.order_by(_R.position).limit(PAGE_SIZE).offset(offset)))
        size = min(PAGE_SIZE, total - offset)
        if size <= 0:
            return []
        back = total - offset - size  # matches after this page
        return list(self.session.scalars(ids.order_by(_R.position.desc()).limit(size).offset(back)))

    def _search(self, text: str) -> ColumnElement[bool]:
        """Name, address or phone containing `text`, any case (SQLite's LIKE ignores ASCII case itself)."""
        pattern = _like(text)
        if self.session.get_bind().dialect.name == "sqlite":
            return or_(*(c.like(pattern, escape="\\") for c in (_R.name, _R.email, _R.phone)))
        return or_(*(c.ilike(pattern, escape="\\") for c in (_R.name, _R.email, _R.phone)))

    @staticmethod
    def _line(r: RegistrationRow, place: int | None, reply: OutboxRow | None) -> RegistrationLine:
        """A registration row as a list line."""
        return RegistrationLine(
            id=r.id,
            position=r.position,
            status=r.status,
            seat=place if r.status == Status.CONFIRMED.value else None,
            waitlist_place=place if r.status == Status.WAITLISTED.value else None,
            name=r.name,
            email=r.email or "",
            phone=r.phone or "",
            channel=r.channel,
            received_at=r.received_at,
            replied_at=r.replied_at,
            reply_status=_reply_status(r, reply),
        )

    def registration_line(self, event_id: str, registration_id: int) -> RegistrationLine | None:
        """One registration of the event as its list shows it, or None."""
        row = self.session.get(_R, registration_id)
        if row is None or row.event_id != event_id:
            return None
        place = self._places(event_id, [row]).get(row.id)
        return self._line(row, place, self._latest_replies([row.id]).get(row.id))

    def _places(self, event_id: str, rows: Sequence[RegistrationRow]) -> dict[int, int]:
        """Seat number (confirmed) or waitlist place (waitlisted) of these rows (in arrival order), counted
        over the whole event as core.booking.places counts them, on the (event, status, position) index:
        the statuses between rows far apart are counted in the database, those of nearby rows walked."""
        placed = [r for r in rows if r.status in _PLACED]
        counted = dict.fromkeys(_PLACED, 0)
        places: dict[int, int] = {}
        done = 0  # `counted` holds the statuses of every arrival up to this position
        for run in _runs(placed):
            gap = self.session.execute(
                select(_R.status, func.count())
                .where(*self._placed_between(event_id, done + 1, run[0].position - 1))
                .group_by(_R.status)
            ).all()
            for status, n in gap:
                counted[str(status)] += int(n)
            wanted = {r.position for r in run}
            span = self.session.execute(
                select(_R.status, _R.position, _R.id)
                .where(*self._placed_between(event_id, run[0].position, run[-1].position))
                .order_by(_R.position)
            )
            for status, position, registration_id in span:
                counted[status] += 1
                if position in wanted:
                    places[int(registration_id)] = counted[status]
            done = run[-1].position
        return places

    def _places_from_end(
        self, event_id: str, rows: Sequence[RegistrationRow], totals: dict[str, int]
    ) -> dict[int, int]:
        """As _places, for rows late in the event: the event's totals per status minus those arrived after
        each row, so only the arrivals after the page are counted."""
        after = dict.fromkeys(_PLACED, 0)  # statuses of every arrival after position `done`
        places: dict[int, int] = {}
        done: int | None = None
        for run in reversed(_runs([r for r in rows if r.status in _PLACED])):
            later = self._placed_between(event_id, run[-1].position + 1, done - 1 if done else _MAX_POSITION)
            for status, n in self.session.execute(
                select(_R.status, func.count()).where(*later).group_by(_R.status)
            ):
                after[str(status)] += int(n)
            wanted = {r.position for r in run}
            span = self.session.execute(
                select(_R.status, _R.position, _R.id)
                .where(*self._placed_between(event_id, run[0].position, run[-1].position))
                .order_by(_R.position.desc())
            )
            for status, position, registration_id in span:
                if position in wanted:
                    places[int(registration_id)] = totals.get(status, 0) - after[status]
                after[status] += 1
            done = run[0].position
        return places

    @staticmethod
    def _placed_between(event_id: str, low: int, high: int) -> list[ColumnElement[bool]]:
        """Confirmed or waitlisted registrations of the event arrived from `low` to `high`."""
        return [_R.event_id == event_id, _R.status.in_(_PLACED), _R.position.between(low, high)]

    def promoted_by(self, event_id: str, registration_id: int) -> list[RegistrationLine]:
        """Who moved up when this registration was cancelled: the promotions audited in its cancellation's
        transaction (the same moment), in arrival order, as the list shows them now."""
        cancelled_at = self.session.scalar(
            select(AuditRow.at)
            .where(
                AuditRow.registration_id == registration_id, AuditRow.action == AuditAction.CANCELLED.value
            )
            .order_by(AuditRow.id.desc())
            .limit(1)
        )
        if cancelled_at is None:
            return []
        moved = self.session.scalars(
            select(AuditRow.registration_id).where(
                AuditRow.event_id == event_id,
                AuditRow.action == AuditAction.PROMOTED.value,
                AuditRow.at == cancelled_at,
            )
        )
        lines = [self.registration_line(event_id, int(i)) for i in moved if i is not None]
        return sorted((line for line in lines if line is not None), key=lambda line: line.position)

    def _latest_replies(self, registration_ids: Sequence[int]) -> dict[int, OutboxRow]:
        """The latest reply about each of these registrations (as the export states its reply status)."""
        if not registration_ids:
            return {}
        latest = (
            select(func.max(OutboxRow.id))
            .where(OutboxRow.registration_id.in_(list(registration_ids)))
            .group_by(OutboxRow.registration_id)
        )
        return {
            row.registration_id or 0: row
            for row in self.session.scalars(select(OutboxRow).where(OutboxRow.id.in_(latest)))
        }

    def audit_lines(
        self, event_id: str, *, registration_id: int | None = None, page: int = 1
    ) -> tuple[list[AuditLine], int]:
        """The event's changes (or one registration's), newest first, a page of 100; and how many in all."""
        where: list[ColumnElement[bool]] = [AuditRow.event_id == event_id]
        if registration_id is not None:
            where.append(AuditRow.registration_id == registration_id)
        total = int(self.session.scalar(select(func.count()).select_from(AuditRow).where(*where)) or 0)
        found = self.session.execute(
            select(AuditRow, _R.position, _R.name)
            .outerjoin(_R, AuditRow.registration_id == _R.id)
            .where(*where)
            .order_by(AuditRow.id.desc())
            .limit(PAGE_SIZE)
            .offset((max(1, page) - 1) * PAGE_SIZE)
        ).all()
        lines = [
            AuditLine(
                at=a.at,
                registration_id=a.registration_id,
                position=position,
                name=name or "",
                actor=a.actor,
                action=a.action,
                old_status=a.old_status,
                new_status=a.new_status,
                detail=a.detail,
            )
            for a, position, name in found
        ]
        return lines, total

    def triage_lines(self, outcomes: Sequence[str]) -> list[TriageLine]:
        """Mails that need a person (these outcomes, or replies held back by a limit), oldest first."""
        rows = self.session.scalars(
            select(LedgerRow)
            .where(LedgerRow.outcome.in_(list(outcomes)) | LedgerRow.reason.contains("suppressed"))
            .order_by(LedgerRow.internaldate, LedgerRow.uid)
        )
        return [
            TriageLine(
                ledger_id=e.id,
                internaldate=e.internaldate,
                uid=e.uid,
                outcome=e.outcome,
                sender=e.sender or "",
                subject=e.subject or "",
                reason=e.reason,
            )
            for e in rows
        ]

    def failed_reply_lines(self) -> list[FailedReply]:
        """Replies the SMTP server refused for good, oldest first."""
        rows = self.session.scalars(
            select(OutboxRow).where(OutboxRow.failed_at.is_not(None)).order_by(OutboxRow.id)
        )
        return [FailedReply(r.id, r.recipient, r.kind, r.last_error or "") for r in rows]

    def mail_trail(self, ledger_id: int) -> MailTrail | None:
        """A mail's ledger entry with each rule that hit, or None."""
        e = self.session.get(LedgerRow, ledger_id)
        if e is None:
            return None
        return MailTrail(
            ledger_id=e.id,
            folder=e.folder,
            uidvalidity=e.uidvalidity,
            uid=e.uid,
            message_id=e.message_id or "",
            internaldate=e.internaldate,
            processed_at=e.processed_at,
            sender=e.sender or "",
            subject=e.subject or "",
            intent=e.intent or "",
            outcome=e.outcome,
            reason=e.reason,
            rule_hits=tuple((str(rule), str(why)) for rule, why in json.loads(e.rule_hits or "[]")),
        )

    def mailing_progress(self, event_id: str, mailing: ReplyStatus) -> MailingProgress:
        """How far a mailing (access, reminder) of the event is: served, its mails sent, waiting, failed."""
        served_at = _R.access_sent_at if mailing is ReplyStatus.ACCESS else _R.reminder_sent_at
        served = self.session.scalar(
            select(func.count()).select_from(_R).where(_R.event_id == event_id, served_at.is_not(None))
        )
        kind = mailing.value
        sent = func.count(OutboxRow.sent_at)
        failed = func.count(OutboxRow.failed_at)
        total, done, refused = self.session.execute(
            select(func.count(), sent, failed).where(OutboxRow.event_id == event_id, OutboxRow.kind == kind)
        ).one()
        return MailingProgress(
            served=int(served or 0),
            sent=int(done or 0),
            pending=int(total or 0) - int(done or 0) - int(refused or 0),
            failed=int(refused or 0),
        )
