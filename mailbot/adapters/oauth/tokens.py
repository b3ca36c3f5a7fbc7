"""OAuth 2.0 access tokens for SASL XOAUTH2 logins: from a command, or Microsoft's client-credentials flow."""

from __future__ import annotations

import json
import math
import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

try:
    import msal
except ModuleNotFoundError:  # the [oauth] extra; MsalTokenSource.fetch() says how to install it
    msal = None

from mailbot.adapters.oauth.command import CommandTimeoutError, OutputTooLargeError, run_command
from mailbot.errors import MailbotError

OAUTH_EXTRA = "pip install 'mailbot[oauth]'"

__all__ = [
    "OAUTH_EXTRA",
    "REFRESH_FRACTION",
    "REFRESH_MARGIN",
    "AccessToken",
    "CommandTokenSource",
    "MsalTokenSource",
    "TokenError",
    "TokenProvider",
    "TokenSource",
]

MAX_TOKEN_OUTPUT = 64 * 1024  # bytes a token command may print (a JSON answer with a JWT is some 3 KB)
REFRESH_MARGIN = 300.0  # seconds: a token with less than this left is replaced before a login ...
REFRESH_FRACTION = 0.1  # ... or, for tokens living under 50 minutes, with less than this part of its lifetime
_BEARER_TOKEN = re.compile(r"[A-Za-z0-9._~+/-]+=*")  # b64token, RFC 6750 section 2.1


class TokenError(MailbotError):
    """No access token could be had: the token command failed, or the identity platform refused."""


@dataclass(frozen=True)
class AccessToken:
    """An access token and how long it lives from when it was fetched (None: the source didn't say)."""

    value: str = field(repr=False)
    expires_in: float | None = None  # seconds


class TokenSource(Protocol):
    """Fetches a new access token each time it is asked; raises TokenError when it can't."""

    def fetch(self) -> AccessToken:
        """A fresh token with its lifetime."""
        ...


class TokenProvider:
    """The current access token of one login, fetched again shortly before it expires.

    A token is reused until less than REFRESH_MARGIN (5 minutes) of its lifetime is left, or less than
    REFRESH_FRACTION (10 %) of it for short-lived tokens, so no login starts with a token about to expire.
    A token whose lifetime the source didn't tell is fetched anew for every login. Thread-safe: the IDLE
    watcher and the passes log in from different threads.
    """

    def __init__(self, source: TokenSource, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.source = source
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._refresh_at = -math.inf

    def token(self) -> str:
        """The access token to log in with now; raises TokenError (never showing a token) on failure."""
        with self._lock:
            now = self._clock()  # before fetching: a slow fetch makes the expiry earlier, never later
            if self._token is None or now >= self._refresh_at:
                fetched = self.source.fetch()
                self._token = fetched.value
                if fetched.expires_in is None:
                    self._refresh_at = -math.inf
                else:
                    margin = min(REFRESH_MARGIN, REFRESH_FRACTION * fetched.expires_in)
                    self._refresh_at = now + fetched.expires_in - margin
            return self._token

    def __call__(self) -> str:
        return self.token()

    def forget(self, refused: str) -> None:
        """The server refused this token (revoked, rotated): the next login fetches a new one.

        (msal keeps a cache of its own and may hand the same token back until it expires.)
        """
        with self._lock:
            if self._token == refused:
                self._token = None


class CommandTokenSource:
    """Runs a command (no shell) that prints an access token, or JSON with access_token and expires_in.

    The command's error output is never shown or logged: token tools may print secrets there. Its failures
    are reported by exit status only, with the hint to run it by hand. A command that takes longer than
    `timeout` is killed together with every process it started (oauth/command.py).
    """

    def __init__(self, argv: Sequence[str], *, timeout: float = 30.0) -> None:
        if not argv:
            raise ValueError("the token command is empty")
        self.argv = list(argv)
        self.timeout = timeout
        # Only the program's name in messages: its arguments may hold secrets.
        self.where = f"token command {os.path.basename(self.argv[0])}"

    def fetch(self) -> AccessToken:
        """Run the command once and read its output."""
        # `from None` throughout: subprocess's exceptions carry the argv (maybe a secret).
        try:
            done = run_command(self.argv, timeout=self.timeout, max_output=MAX_TOKEN_OUTPUT)
        except FileNotFoundError:
            raise TokenError(f"{self.where}: not found") from None
        except PermissionError:
            raise TokenError(f"{self.where}: cannot be run (permission denied)") from None
        except CommandTimeoutError:
            raise TokenError(
                f"{self.where}: printed no token within {self.timeout:g} s (stopped, with what it started)"
            ) from None
        except OutputTooLargeError:
            raise TokenError(
                f"{self.where}: printed more than {MAX_TOKEN_OUTPUT // 1024} KiB (expected a token)"
            ) from None
        except OSError as exc:
            raise TokenError(f"{self.where}: cannot be run ({exc.strerror or type(exc).__name__})") from None
        if done.returncode != 0:
            status = (
                f"was killed by signal {-done.returncode}"
                if done.returncode < 0
                else f"failed with exit status {done.returncode}"
            )
            raise TokenError(
                f"{self.where}: {status} (its output is not shown, it may hold secrets: run it by hand)"
            )
        return _read_output(done.stdout, self.where)


class MsalTokenSource:
    """Microsoft Entra ID's client-credentials flow (RFC 6749 section 4.4) through msal.

    For an app that an Exchange Online administrator allowed to use the mailbox; msal keeps its own cache
    and answers from it while the token is fresh. The app is built (which looks up the authority on the
    network) at the first fetch.
    """

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        authority: str,
        scopes: Sequence[str],
        timeout: float = 30.0,
    ) -> None:
        self.client_id, self.authority, self.timeout = client_id, authority, timeout
        self.scopes = list(scopes)
        self._secret = client_secret
        self._app: Any = None  # msal.ConfidentialClientApplication (msal has no type hints)
        self.where = f"OAuth 2.0 token from {urlsplit(authority).hostname or authority}"

    def __repr__(self) -> str:
        return f"MsalTokenSource(client_id={self.client_id!r}, authority={self.authority!r})"

    def fetch(self) -> AccessToken:
        """Ask Entra ID (or msal's cache) for a token for the configured scopes."""
        if msal is None:
            raise TokenError(f"{self.where}: msal is not installed: {OAUTH_EXTRA}")
        try:
            if self._app is None:
                self._app = msal.ConfidentialClientApplication(
                    self.client_id,
                    client_credential=self._secret,
                    authority=self.authority,
                    timeout=self.timeout,
                )
            answer = self._app.acquire_token_for_client(scopes=self.scopes)
        except (ValueError, OSError) as exc:  # a bad authority or tenant; the network (requests' errors)
            raise TokenError(f"{self.where}: {_one_line(str(exc))}") from exc
        return _read_answer(answer, self.where)


def _read_output(output: bytes, where: str) -> AccessToken:
    """A token command's output: the token alone on a line, or a JSON object like a token endpoint's."""
    try:
        text = output.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise TokenError(f"{where}: printed no text (not UTF-8)") from None
    if not text:
        raise TokenError(f"{where}: printed nothing (expected an access token)")
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            raise TokenError(f"{where}: printed invalid JSON") from None
        return _read_answer(data, where)
    if len(text.split()) != 1:
        raise TokenError(f"{where}: printed more than the token (expected the token alone, or JSON)")
    return AccessToken(_usable(text, where))


def _read_answer(answer: object, where: str) -> AccessToken:
    """A token endpoint's JSON answer (RFC 6749 section 5.1/5.2): access_token and expires_in, or error."""
    if not isinstance(answer, dict):
        raise TokenError(f"{where}: the answer is not a JSON object")
    token = answer.get("access_token")
    if not isinstance(token, str) or not token:
        error = answer.get("error")
        if error:
            detail = answer.get("error_description")
            # Entra's descriptions name the problem (e.g. "AADSTS7000215: Invalid client secret provided.")
            # on their first line; trace and correlation ids follow.
            first = _one_line(str(detail).strip().splitlines()[0]) if detail and str(detail).strip() else ""
            suffix = f": {first[:200]}" if first else ""
            raise TokenError(f"{where}: refused ({_one_line(str(error))[:60]}){suffix}")
        raise TokenError(f"{where}: the answer has no access_token")
    expires = answer.get("expires_in")
    lifetime: float | None = None
    if expires is not None:
        try:
            lifetime = float(expires) if not isinstance(expires, bool) else math.nan
        except (TypeError, ValueError):
            lifetime = math.nan
        if not math.isfinite(lifetime):
            raise TokenError(f"{where}: expires_in is not a number of seconds")
        lifetime = max(0.0, lifetime)
    return AccessToken(_usable(token, where), lifetime)


def _usable(token: str, where: str) -> str:
    """The token itself, if it is a bearer token: then it also can't break the XOAUTH2 string's syntax."""
    if not _BEARER_TOKEN.fullmatch(token):
        raise TokenError(f"{where}: the output is not a bearer token (RFC 6750 characters only)")
    return token


def _one_line(text: str) -> str:
    return " ".join(text.split())
