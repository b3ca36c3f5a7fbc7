"""The StaffStore port on the database: staff accounts, console sessions, recovery codes, security log."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Result, delete, func, or_, select, update

from mailbot.adapters.db.engine import Database
from mailbot.adapters.db.schema import RecoveryCodeRow, SecurityLogRow, StaffSessionRow, StaffUserRow
from mailbot.core.staff import Role, SecurityEvent, StaffAccount, StaffSession


def _rows(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE touched."""
    return int(cast("CursorResult[Any]", result).rowcount)


def _account(row: StaffUserRow) -> StaffAccount:
    return StaffAccount(
        row.name, Role.parse(row.role), row.password_hash, row.totp_secret, row.disabled, row.created_at
    )


def _session(row: StaffSessionRow) -> StaffSession:
    return StaffSession(
        row.key, row.name, row.created_at, row.seen_at, row.csrf, row.second_factor, row.client
    )


class SqlStaffStore:
    """Staff data in the desk's database; each call one short transaction (reads without the write lock)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def account(self, name: str) -> StaffAccount | None:
        """The account of this name (exact), or None."""
        with self.db.reading() as tx:
            row = tx.session.get(StaffUserRow, name)
            return _account(row) if row is not None else None

    def accounts(self) -> list[StaffAccount]:
        """Every account, by name."""
        with self.db.reading() as tx:
            rows = tx.session.scalars(select(StaffUserRow).order_by(StaffUserRow.name))
            return [_account(row) for row in rows]

    def add_account(self, account: StaffAccount) -> bool:
        """Store a new account; False when the name is taken."""
        with self.db.transaction() as tx:
            if tx.session.get(StaffUserRow, account.name) is not None:
                return False
            tx.session.add(
                StaffUserRow(
                    name=account.name,
                    role=account.role.label,
                    password_hash=account.password_hash,
                    totp_secret=account.totp_secret,
                    disabled=account.disabled,
                    created_at=account.created_at,
                )
            )
            return True

    def update_account(self, account: StaffAccount) -> bool:
        """Replace the stored account of `account.name`; False when there is none."""
        with self.db.transaction() as tx:
            row = tx.session.get(StaffUserRow, account.name)
            if row is None:
                return False
            if row.totp_secret != account.totp_secret:
                row.totp_last_step = None
            row.role = account.role.label
            row.password_hash = account.password_hash
            row.totp_secret = account.totp_secret
            row.disabled = account.disabled
            return True

    def remove_account(self, name: str) -> bool:
        """Delete the account, its sessions and recovery codes; False when there is none."""
        with self.db.transaction() as tx:
            session = tx.session
            session.execute(delete(StaffSessionRow).where(StaffSessionRow.name == name))
            session.execute(delete(RecoveryCodeRow).where(RecoveryCodeRow.name == name))
            return _rows(session.execute(delete(StaffUserRow).where(StaffUserRow.name == name))) > 0

    def replace_recovery_codes(self, name: str, hashes: Sequence[str]) -> None:
        """The account's recovery codes are these (hashed) from now on; the old ones are void."""
        with self.db.transaction() as tx:
            tx.session.execute(delete(RecoveryCodeRow).where(RecoveryCodeRow.name == name))
            tx.session.add_all(RecoveryCodeRow(name=name, code_hash=h, used=False) for h in hashes)

    def use_recovery_code(self, name: str, code_hash: str) -> bool:
        """Spend one unused recovery code; False when it doesn't exist or was used (one UPDATE: no race)."""
        with self.db.transaction() as tx:
            spent = tx.session.execute(
                update(RecoveryCodeRow)
                .where(
                    RecoveryCodeRow.name == name,
                    RecoveryCodeRow.code_hash == code_hash,
                    RecoveryCodeRow.used.is_(False),
                )
                .values(used=True)
            )
            return _rows(spent) > 0

    def recovery_codes_left(self, name: str) -> int:
        """How many unused recovery codes the account has."""
        with self.db.reading() as tx:
            query = select(func.count()).where(RecoveryCodeRow.name == name, RecoveryCodeRow.used.is_(False))
            return int(tx.session.scalar(query) or 0)

    def claim_totp_step(self, name: str, step: int) -> bool:
        """Record a used TOTP time step; False if this or a later one was used (a code is good once)."""
        with self.db.transaction() as tx:
            claimed = tx.session.execute(
                update(StaffUserRow)
                .where(
                    StaffUserRow.name == name,
                    or_(StaffUserRow.totp_last_step.is_(None), StaffUserRow.totp_last_step < step),
                )
                .values(totp_last_step=step)
            )
            return _rows(claimed) > 0

    def add_session(self, session: StaffSession) -> None:
        """Store a new session."""
        with self.db.transaction() as tx:
            tx.session.add(
                StaffSessionRow(
                    key=session.key,
                    name=session.name,
                    created_at=session.created_at,
                    seen_at=session.seen_at,
                    csrf=session.csrf,
                    second_factor=session.second_factor,
                    client=session.client[:64],
                )
            )

    def session(self, key: str) -> StaffSession | None:
        """The session with this key, or None."""
        with self.db.reading() as tx:
            row = tx.session.get(StaffSessionRow, key)
            return _session(row) if row is not None else None

    def sessions(self) -> list[StaffSession]:
        """Every stored session, newest first."""
        with self.db.reading() as tx:
            rows = tx.session.scalars(select(StaffSessionRow).order_by(StaffSessionRow.created_at.desc()))
            return [_session(row) for row in rows]

    def update_session(self, session: StaffSession) -> None:
        """Replace the stored session's last-seen time and second-factor state (gone: nothing happens)."""
        with self.db.transaction() as tx:
            tx.session.execute(
                update(StaffSessionRow)
                .where(StaffSessionRow.key == session.key)
                .values(seen_at=session.seen_at, second_factor=session.second_factor)
            )

    def end_session(self, key: str) -> None:
        """Delete one session."""
        with self.db.transaction() as tx:
            tx.session.execute(delete(StaffSessionRow).where(StaffSessionRow.key == key))

    def end_sessions(self, name: str, keep: str | None = None) -> int:
        """Delete the sessions of `name` except `keep`; how many ended."""
        with self.db.transaction() as tx:
            query = delete(StaffSessionRow).where(StaffSessionRow.name == name)
            if keep is not None:
                query = query.where(StaffSessionRow.key != keep)
            return _rows(tx.session.execute(query))

    def end_stale_sessions(self, created_before: datetime, seen_before: datetime) -> int:
        """Delete the sessions created before the one or last seen before the other; how many ended."""
        with self.db.transaction() as tx:
            stale = or_(StaffSessionRow.created_at < created_before, StaffSessionRow.seen_at < seen_before)
            return _rows(tx.session.execute(delete(StaffSessionRow).where(stale)))

    def log(self, event: SecurityEvent) -> None:
        """Append to the security log."""
        with self.db.transaction() as tx:
            tx.session.add(
                SecurityLogRow(
                    at=event.at,
                    kind=event.kind[:32],
                    name=event.name[:80],
                    client=event.client[:64],
                    detail=event.detail,
                )
            )

    def security_log(self, limit: int) -> list[SecurityEvent]:
        """The newest `limit` security events, newest first."""
        with self.db.reading() as tx:
            rows = tx.session.scalars(select(SecurityLogRow).order_by(SecurityLogRow.id.desc()).limit(limit))
            return [SecurityEvent(r.at, r.kind, r.name, r.client, r.detail) for r in rows]

    def count_events(
        self, kind: str, since: datetime, *, name: str | None = None, client: str | None = None
    ) -> int:
        """How many events of `kind` since `since`, for this name and/or client."""
        query = select(func.count()).where(SecurityLogRow.kind == kind, SecurityLogRow.at >= since)
        if name is not None:
            query = query.where(SecurityLogRow.name == name)
        if client is not None:
            query = query.where(SecurityLogRow.client == client)
        with self.db.reading() as tx:
            return int(tx.session.scalar(query) or 0)
