"""Passwords (argon2id), one-time codes (TOTP, RFC 6238) and random tokens: the only argon2/pyotp importer."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from functools import cache

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER = PasswordHasher()  # argon2id with the library's (RFC 9106 low-memory) parameters; no I/O


def hash_password(password: str) -> str:
    """The argon2id hash of a password, salted, in PHC string form."""
    return _HASHER.hash(password)


@cache
def _dummy_hash() -> str:
    return _HASHER.hash(secrets.token_urlsafe(16))


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether the password matches; an account without a password (None) costs the same time and fails."""
    try:
        return _HASHER.verify(password_hash or _dummy_hash(), password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def new_token() -> str:
    """A random token for a cookie or a form (256 bits)."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """How a session token or recovery code is stored: its SHA-256 (they are random, no salt needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_totp_secret() -> str:
    """A new TOTP secret (160 bits, base32)."""
    return pyotp.random_base32(32)


def totp_uri(secret: str, name: str, issuer: str) -> str:
    """The otpauth:// URI an authenticator app reads (as text or QR code)."""
    return pyotp.TOTP(secret).provisioning_uri(name=name, issuer_name=issuer)


def totp_step(secret: str, code: str, now: datetime) -> int | None:
    """The 30-second time step whose code `code` is (this one or one either side for clock drift), or None."""
    code = "".join(code.split())
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    for step in (current, current - 1, current + 1):
        if secrets.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def new_recovery_codes(count: int = 10) -> list[str]:
    """Single-use recovery codes: 10 groups of 4+4 characters from an alphabet without look-alikes."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    codes = []
    for _ in range(count):
        raw = "".join(secrets.choice(alphabet) for _ in range(8))
        codes.append(f"{raw[:4]}-{raw[4:]}")
    return codes


def normal_recovery_code(code: str) -> str:
    """A recovery code as typed (spaces, case, dashes) in the form it is hashed."""
    cleaned = "".join(c for c in code.lower() if c.isalnum())
    return f"{cleaned[:4]}-{cleaned[4:]}"


class Argon2Credentials:
    """The `Credentials` port with argon2id, pyotp and `secrets`."""

    hash_password = staticmethod(hash_password)
    verify_password = staticmethod(verify_password)
    new_token = staticmethod(new_token)
    token_hash = staticmethod(token_hash)
    new_totp_secret = staticmethod(new_totp_secret)
    totp_uri = staticmethod(totp_uri)
    totp_step = staticmethod(totp_step)
    new_recovery_codes = staticmethod(new_recovery_codes)
    normal_recovery_code = staticmethod(normal_recovery_code)
