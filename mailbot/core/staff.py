"""Staff of the console as values: roles in order, accounts, sessions, security events, and their rules."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta


class Role(enum.IntEnum):
    """What a staff member may do; each role may do everything the lower ones may."""

    VIEWER = 1  # read
    HOTLINE = 2  # + add and cancel registrations
    ORGANISER = 3  # + exports, send-access, triage
    ADMIN = 4  # + staff accounts

    @property
    def label(self) -> str:
        """The role's name as configured and typed: viewer, hotline, organiser, admin."""
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Role:
        """The role named `text` (case-insensitive); ValueError names the choices."""
        try:
            return cls[text.strip().upper()]
        except KeyError:
            choices = ", ".join(role.label for role in cls)
            raise ValueError(f"unknown role {text!r} (one of: {choices})") from None


@dataclass(frozen=True)
class Staff:
    """The staff member a request acts for (the audit log names them)."""

    name: str
    role: Role

    @property
    def actor(self) -> str:
        """How the audit log names a change made in the console."""
        return f"{self.name} (web)"


@dataclass(frozen=True)
class StaffAccount:
    """A stored staff account; `password_hash` None: single sign-on only; `totp_secret` None: not enrolled."""

    name: str
    role: Role
    password_hash: str | None
    totp_secret: str | None
    disabled: bool
    created_at: datetime


@dataclass(frozen=True)
class StaffSession:
    """A server-side console session; `key` is the hash of the cookie's value, never the value itself."""

    key: str
    name: str
    created_at: datetime
    seen_at: datetime
    csrf: str
    second_factor: bool  # passed, or not asked (single sign-on, role without it)
    client: str


@dataclass(frozen=True)
class SecurityEvent:
    """One line of the security log: a login attempt or a refused action (no passwords, client masked)."""

    at: datetime
    kind: str
    name: str
    client: str
    detail: str


# The kinds of security events that count against the login throttle.
FAILED_LOGIN = "login-failed"


def session_alive(session: StaffSession, now: datetime, idle: timedelta, absolute: timedelta) -> bool:
    """A session ends after `idle` without a request and `absolute` after its login, whichever comes first."""
    return now - session.seen_at < idle and now - session.created_at < absolute


def mask_client(address: str) -> str:
    """A client address fit for the log: the last part of an IPv4 address, the last 80 bits of IPv6 hidden."""
    if not address:
        return "-"
    if ":" in address:
        groups = address.split(":")
        return ":".join(groups[:3]) + ":…"
    parts = address.split(".")
    if len(parts) == 4:
        return ".".join(parts[:3]) + ".x"
    return address


MIN_PASSWORD_LENGTH = 12
# A few passwords every guessing list starts with (long enough to pass the length rule).
_COMMON = frozenset(
    {"passwort1234", "password1234", "123456789012", "qwertzuiop12", "qwertyuiop12", "hallohallo12"}
)


def password_problem(name: str, password: str) -> str | None:
    """Why a new password is refused (one line), or None when it will do."""
    if not password:
        return "the password is empty"
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"the password is too short (at least {MIN_PASSWORD_LENGTH} characters)"
    lowered = password.lower()
    if len(set(lowered)) < 4:
        return "the password repeats too few characters"
    if name and name.lower() in lowered:
        return "the password contains the account name"
    if lowered in _COMMON:
        return "the password is a common one"
    return None


def valid_staff_name(name: str) -> bool:
    """Staff names: 1-64 letters, digits, '.', '_', '-', '@' (an SSO identity may be an address)."""
    return 0 < len(name) <= 64 and all(c.isalnum() or c in "._-@" for c in name)


@dataclass(frozen=True)
class AccountPolicy:
    """The console's security settings ([web]) as the account rules need them."""

    second_factor_roles: frozenset[Role] = frozenset({Role.ORGANISER, Role.ADMIN})
    session_idle: timedelta = timedelta(minutes=30)
    session_absolute: timedelta = timedelta(hours=10)
    attempts_per_account: int = 5
    attempts_per_client: int = 20
    throttle_window: timedelta = timedelta(minutes=15)
    pending_login: timedelta = timedelta(minutes=10)  # a login waiting for its second factor or enrolment
    issuer: str = "mailbot"
