"""The ledger repository: every processed message of the mailbox with its verdict (invariant 1)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.exc import IntegrityError

from mailbot.adapters.db.schema import LEDGER, LedgerRow
from mailbot.adapters.db.unit_of_work import TxBase
from mailbot.adapters.db.values import ledger_entry_of
from mailbot.core.records import LedgerEntry
from mailbot.ports.store import DuplicateMessageError

_SET_OUTCOME = (
    update(LEDGER)
    .where(LEDGER.c.id == bindparam("b_id"))
    .values(outcome=bindparam("b_outcome"), reason=bindparam("b_reason"))
)


class LedgerRepository(TxBase):
    """Processed messages, keyed by (folder, UIDVALIDITY, UID)."""

    def add_ledger(
        self,
        *,
        folder: str,
        uidvalidity: int,
        uid: int,
        message_id: str | None,
        internaldate: datetime,
        size: int,
        outcome: str,
        reason: str,
        rule_hits: Sequence[tuple[str, str]],
        sender: str | None,
        subject: str | None,
        now: datetime,
        intent: str | None = None,
        content_hash: str | None = None,
        decoded_hash: str | None = None,
    ) -> int:
        """Record a processed message; raises DuplicateMessageError if it is already recorded.

        Call it inside a savepoint (`Tx.savepoint`): the failed INSERT must not end the whole transaction.
        """
        values = {
            "folder": folder,
            "uidvalidity": uidvalidity,
            "uid": uid,
            "message_id": message_id,
            "internaldate": internaldate,
            "size": size,
            "outcome": outcome,
            "reason": reason,
            "rule_hits": json.dumps([list(h) for h in rule_hits], ensure_ascii=False),
            "intent": intent,
            "content_hash": content_hash,
            "decoded_hash": decoded_hash,
            "sender": sender,
            "subject": subject,
            "processed_at": now,
            "flagged": False,
        }
        try:
            return self._insert(LedgerRow, **values)
        except IntegrityError as exc:
            raise DuplicateMessageError(f"{folder}/{uidvalidity}/{uid}") from exc

    def first_by_hash(
        self, content_hashes: Sequence[str], decoded_hashes: Sequence[str] = ()
    ) -> dict[str, tuple[str, int, int]]:
        """For each content or decoded hash (core/identity.py) already in the ledger: where the first mail
        with it was (one query per kind; the two kinds hash different texts, so they never collide)."""
        found: dict[str, tuple[str, int, int]] = {}
        for column, hashes in (
            (LedgerRow.content_hash, content_hashes),
            (LedgerRow.decoded_hash, decoded_hashes),
        ):
            if hashes:
                rows = self.session.execute(
                    select(column, LedgerRow.folder, LedgerRow.uidvalidity, LedgerRow.uid)
                    .where(column.in_(sorted(set(hashes))))
                    .order_by(LedgerRow.id.desc())
                )
                found.update({str(h): (folder, int(validity), int(uid)) for h, folder, validity, uid in rows})
        return found

    def first_by_message_id(self, message_ids: Sequence[str]) -> dict[str, tuple[str, int, int, str, str]]:
        """Rows recorded before decoded hashes existed (none stored), by Message-ID: where the first mail
        with it was, with its stored sender and subject (one query)."""
        if not message_ids:
            return {}
        rows = self.session.execute(
            select(
                LedgerRow.message_id,
                LedgerRow.folder,
                LedgerRow.uidvalidity,
                LedgerRow.uid,
                LedgerRow.sender,
                LedgerRow.subject,
            )
            .where(LedgerRow.message_id.in_(sorted(set(message_ids))), LedgerRow.decoded_hash.is_(None))
            .order_by(LedgerRow.id.desc())
        )
        return {
            str(mid): (folder, int(validity), int(uid), sender or "", subject or "")
            for mid, folder, validity, uid, sender, subject in rows
        }

    def set_ledger_outcome(self, ledger_id: int, outcome: str, reason: str) -> None:
        """Update the verdict of a ledger row written earlier in this transaction."""
        waiting = self.buffer.unwritten_ledger_row(ledger_id) if self.buffer else None
        if waiting is not None:
            waiting.update(outcome=outcome, reason=reason)
            return
        self.flush()
        self.session.connection().execute(
            _SET_OUTCOME, {"b_id": ledger_id, "b_outcome": outcome, "b_reason": reason}
        )

    def verdicts(
        self,
        folder: str,
        uidvalidity: int,
        *,
        uids: Sequence[int] | None = None,
        outcomes: Sequence[str] | None = None,
    ) -> list[LedgerEntry]:
        """The folder's ledger entries (of these UIDs, of these outcomes), in arrival order."""
        query = select(LedgerRow).where(LedgerRow.folder == folder, LedgerRow.uidvalidity == uidvalidity)
        if uids is not None:
            query = query.where(LedgerRow.uid.in_(list(uids)))
        if outcomes is not None:
            query = query.where(LedgerRow.outcome.in_(list(outcomes)))
        return [
            ledger_entry_of(r)
            for r in self.session.scalars(query.order_by(LedgerRow.internaldate, LedgerRow.uid))
        ]

    def reopen(self, folder: str, uidvalidity: int, uids: Sequence[int], outcomes: Sequence[str]) -> None:
        """Drop the verdicts of these mails (only of these outcomes), so they are decided again."""
        self.flush()
        self.session.execute(
            delete(LedgerRow).where(
                LedgerRow.folder == folder,
                LedgerRow.uidvalidity == uidvalidity,
                LedgerRow.uid.in_(list(uids)),
                LedgerRow.outcome.in_(list(outcomes)),
            )
        )

    def processed_uids(self, folder: str, uidvalidity: int) -> set[int]:
        """UIDs of the folder already in the ledger."""
        return set(
            self.session.scalars(
                select(LedgerRow.uid).where(LedgerRow.folder == folder, LedgerRow.uidvalidity == uidvalidity)
            )
        )

    def unflagged_uids(self, folder: str, uidvalidity: int, outcomes: Sequence[str]) -> list[int]:
        """Registration mails committed but not yet marked/moved (a crash came between)."""
        return list(
            self.session.scalars(
                select(LedgerRow.uid)
                .where(
                    LedgerRow.folder == folder,
                    LedgerRow.uidvalidity == uidvalidity,
                    LedgerRow.outcome.in_(outcomes),
                    LedgerRow.flagged.is_(False),
                )
                .order_by(LedgerRow.uid)
            )
        )

    def mark_flagged(self, folder: str, uidvalidity: int, uids: Sequence[int]) -> None:
        """Remember that these messages were marked/moved."""
        if uids:
            self.session.execute(
                update(LedgerRow)
                .where(
                    LedgerRow.folder == folder, LedgerRow.uidvalidity == uidvalidity, LedgerRow.uid.in_(uids)
                )
                .values(flagged=True)
            )

    def ledger_entries(self, key: str) -> list[LedgerEntry]:
        """Ledger entries by UID (digits) or Message-ID."""
        if key.isdigit():
            query = select(LedgerRow).where(LedgerRow.uid == int(key))
        else:
            mid = key if key.startswith("<") else f"<{key}>"
            query = select(LedgerRow).where(LedgerRow.message_id == mid)
        return [ledger_entry_of(r) for r in self.session.scalars(query.order_by(LedgerRow.id))]
