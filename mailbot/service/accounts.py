"""Use-cases of staff accounts and console sessions: the CLI's `user` commands and the console call them."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta

from mailbot.core.staff import (
    FAILED_LOGIN,
    AccountPolicy,
    Role,
    SecurityEvent,
    Staff,
    StaffAccount,
    StaffSession,
    mask_client,
    password_problem,
    session_alive,
    valid_staff_name,
)
from mailbot.ports import Clock, Credentials, StaffStore

log = logging.getLogger("mailbot.accounts")

TOUCH_EVERY = timedelta(seconds=60)  # a session's "last seen" is written at most this often


@dataclass(frozen=True)
class Login:
    """The outcome of a login attempt: a new session (its cookie token) or a refusal in `reason`."""

    token: str | None
    reason: str = ""  # "", "failed", "throttled"
    second_factor: bool = False  # the session waits for a TOTP or recovery code
    enrol: bool = False  # the session waits for the account's TOTP enrolment


@dataclass(frozen=True)
class Current:
    """A request's live session and the staff member it belongs to."""

    session: StaffSession
    staff: Staff
    enrolled: bool  # the account has a TOTP secret


class Accounts:
    """Staff accounts, logins, sessions and the security log, on a `StaffStore`."""

    def __init__(
        self, store: StaffStore, credentials: Credentials, clock: Clock, policy: AccountPolicy
    ) -> None:
        self.store = store
        self.credentials = credentials
        self.clock = clock
        self.policy = policy

    # --- accounts --------------------------------------------------------------------------------------

    def add(self, name: str, role: Role, password: str | None) -> str | None:
        """Create an account (password None: single sign-on only); why not, in one line, or None."""
        if not valid_staff_name(name):
            return f"invalid name {name!r} (1-64 letters, digits, '.', '_', '-', '@')"
        if password is not None and (problem := password_problem(name, password)):
            return problem
        hashed = self.credentials.hash_password(password) if password is not None else None
        account = StaffAccount(name, role, hashed, None, disabled=False, created_at=self.clock())
        if not self.store.add_account(account):
            return f"an account {name!r} exists already"
        return None

    def accounts(self) -> list[StaffAccount]:
        """Every account, by name."""
        return self.store.accounts()

    def account(self, name: str) -> StaffAccount | None:
        """One account, or None."""
        return self.store.account(name)

    def check_password(self, name: str, password: str) -> bool:
        """Whether `password` is the account's (an unknown account takes as long and fails)."""
        account = self.store.account(name)
        return self.credentials.verify_password(account.password_hash if account else None, password)

    def set_password(self, name: str, password: str, keep: str | None = None) -> str | None:
        """A new password; the account's other sessions end (`keep`: the token of the one asking)."""
        account = self.store.account(name)
        if account is None:
            return f"no account {name!r}"
        if problem := password_problem(name, password):
            return problem
        self.store.update_account(replace(account, password_hash=self.credentials.hash_password(password)))
        self.store.end_sessions(name, keep=self.credentials.token_hash(keep) if keep else None)
        return None

    def set_role(self, name: str, role: Role) -> bool:
        """Change an account's role; its sessions end (the next login asks for what the role needs)."""
        account = self.store.account(name)
        if account is None:
            return False
        self.store.update_account(replace(account, role=role))
        self.store.end_sessions(name)
        return True

    def set_disabled(self, name: str, disabled: bool) -> bool:
        """Disable (sessions end at once, no login) or enable an account."""
        account = self.store.account(name)
        if account is None:
            return False
        self.store.update_account(replace(account, disabled=disabled))
        if disabled:
            self.store.end_sessions(name)
        return True

    def remove(self, name: str) -> bool:
        """Delete an account with its sessions and recovery codes."""
        return self.store.remove_account(name)

    def end_sessions(self, name: str) -> int:
        """End every session of one staff member (an admin's action); how many ended."""
        return self.store.end_sessions(name)

    def reset_second_factor(self, name: str) -> bool:
        """Forget an account's TOTP secret and recovery codes (a lost phone); its sessions end."""
        account = self.store.account(name)
        if account is None:
            return False
        self.store.update_account(replace(account, totp_secret=None))
        self.store.replace_recovery_codes(name, [])
        self.store.end_sessions(name)
        return True

    # --- logins ----------------------------------------------------------------------------------------

    def note(self, kind: str, name: str, client: str, detail: str = "") -> None:
        """Record a security event (stored for admins, logged with the client masked)."""
        self.store.log(SecurityEvent(self.clock(), kind, name, client, detail))
        log.info("security: %s %s from %s %s", kind, name or "-", mask_client(client), detail)

    def _throttled(self, name: str, client: str) -> bool:
        since = self.clock() - self.policy.throttle_window
        by_name = self.store.count_events(FAILED_LOGIN, since, name=name)
        by_client = self.store.count_events(FAILED_LOGIN, since, client=client)
        return by_name >= self.policy.attempts_per_account or by_client >= self.policy.attempts_per_client

    def login(self, name: str, password: str, client: str) -> Login:
        """Check a password login; unknown names, wrong passwords and disabled accounts answer alike."""
        shown = _shown_name(name, self.store.account(name))
        if self._throttled(shown, client):
            self.note("login-throttled", shown, client)
            return Login(None, "throttled")
        account = self.store.account(name)
        matches = self.credentials.verify_password(account.password_hash if account else None, password)
        if account is None or not matches or account.disabled:
            why = (
                "unknown name" if account is None else ("disabled" if account.disabled else "wrong password")
            )
            self.note(FAILED_LOGIN, shown, client, why)
            return Login(None, "failed")
        needs = account.role in self.policy.second_factor_roles
        self.end_stale_sessions()
        token = self._open_session(account.name, client, second_factor=not needs)
        if not needs:
            self.note("login", account.name, client, "password")
        return Login(
            token,
            second_factor=needs and account.totp_secret is not None,
            enrol=needs and not account.totp_secret,
        )

    def trusted_login(self, name: str, client: str) -> str | None:
        """A session for the identity a trusted proxy vouches for; None when no such active account."""
        account = self.store.account(name)
        if account is None or account.disabled:
            self.note(FAILED_LOGIN, _shown_name(name, account), client, "single sign-on: no active account")
            return None
        self.note("login", account.name, client, "single sign-on")
        return self._open_session(account.name, client, second_factor=True)

    def _open_session(self, name: str, client: str, *, second_factor: bool) -> str:
        token = self.credentials.new_token()
        now = self.clock()
        key = self.credentials.token_hash(token)
        self.store.add_session(
            StaffSession(key, name, now, now, self.credentials.new_token(), second_factor, client)
        )
        return token

    def current(self, token: str | None) -> Current | None:
        """The live session of a cookie's token (its last-seen time kept up to date), or None."""
        if not token:
            return None
        key = self.credentials.token_hash(token)
        session = self.store.session(key)
        if session is None:
            return None
        now = self.clock()
        account = self.store.account(session.name)
        pending = not session.second_factor and now - session.created_at >= self.policy.pending_login
        alive = session_alive(session, now, self.policy.session_idle, self.policy.session_absolute)
        if account is None or account.disabled or pending or not alive:
            self.store.end_session(key)
            return None
        if now - session.seen_at >= TOUCH_EVERY:
            session = replace(session, seen_at=now)
            self.store.update_session(session)
        return Current(session, Staff(account.name, account.role), account.totp_secret is not None)

    def logout(self, token: str | None) -> None:
        """End the session of this token (if any)."""
        if token:
            self.store.end_session(self.credentials.token_hash(token))

    def second_factor(self, current: Current, code: str, client: str) -> bool:
        """Check a TOTP or recovery code for a waiting session; a wrong one counts as a failed login."""
        name = current.staff.name
        if self._throttled(name, client):
            self.note("login-throttled", name, client, "second factor")
            return False
        account = self.store.account(name)
        ok = False
        how = "one-time code"
        if account is not None and account.totp_secret:
            step = self.credentials.totp_step(account.totp_secret, code, self.clock())
            ok = step is not None and self.store.claim_totp_step(name, step)
            if not ok and any(c.isalpha() for c in code):
                how = "recovery code"
                hashed = self.credentials.token_hash(self.credentials.normal_recovery_code(code))
                ok = self.store.use_recovery_code(name, hashed)
        if not ok:
            self.note(FAILED_LOGIN, name, client, f"second factor ({how})")
            return False
        self.store.update_session(replace(current.session, second_factor=True, seen_at=self.clock()))
        self.note("login", name, client, f"password and {how}")
        return True

    def new_totp_secret(self) -> str:
        """A fresh secret for enrolment (nothing stored until a code from it confirms it)."""
        return self.credentials.new_totp_secret()

    def totp_uri(self, secret: str, name: str) -> str:
        """The otpauth:// URI of a secret for this account."""
        return self.credentials.totp_uri(secret, name, self.policy.issuer)

    def enrol(self, current: Current, secret: str, code: str, client: str) -> list[str] | None:
        """Store a TOTP secret once a code from it is right; the new recovery codes (shown once), or None."""
        name = current.staff.name
        account = self.store.account(name)
        step = self.credentials.totp_step(secret, code, self.clock()) if secret else None
        if account is None or step is None:
            self.note("enrolment-failed", name, client)
            return None
        self.store.update_account(replace(account, totp_secret=secret))
        self.store.claim_totp_step(name, step)
        codes = self.new_recovery_codes(name)
        self.store.update_session(replace(current.session, second_factor=True))
        self.store.end_sessions(name, keep=current.session.key)
        self.note("second-factor-enrolled", name, client)
        return codes

    def new_recovery_codes(self, name: str) -> list[str]:
        """Fresh recovery codes for an account (the old ones are void); shown once, stored hashed."""
        codes = self.credentials.new_recovery_codes()
        hashed = [self.credentials.token_hash(self.credentials.normal_recovery_code(c)) for c in codes]
        self.store.replace_recovery_codes(name, hashed)
        return codes

    def sessions(self) -> list[StaffSession]:
        """Every live session (for admins); the timed-out ones are deleted first."""
        self.end_stale_sessions()
        return self.store.sessions()

    def end_stale_sessions(self) -> int:
        """Delete the sessions past their idle or absolute timeout (also done at every login)."""
        now = self.clock()
        return self.store.end_stale_sessions(
            now - self.policy.session_absolute, now - self.policy.session_idle
        )

    def security_log(self, limit: int = 500) -> Sequence[SecurityEvent]:
        """The newest security events."""
        return self.store.security_log(limit)


def _shown_name(typed: str, account: StaffAccount | None) -> str:
    """The name a login attempt is logged under: an unknown one masked (it may be a password typed there)."""
    if account is not None:
        return account.name
    typed = typed.strip()[:64]
    return f"{typed[:2]}…({len(typed)})" if typed else "-"


def needs_second_factor(role: Role, policy: AccountPolicy) -> bool:
    """Whether a local login of this role must pass a second factor."""
    return role in policy.second_factor_roles
