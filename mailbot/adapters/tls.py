"""What the IMAP and SMTP adapters share to log in safely: the TLS context and the XOAUTH2 pieces."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import Protocol, runtime_checkable


@runtime_checkable
class ForgetsRefused(Protocol):
    """A token cache that can drop a token the server refused (adapters/oauth/ TokenProvider)."""

    def forget(self, refused: str) -> None:
        """The server refused this token: the next login fetches a new one."""


def tls_context(cafile: str | None = None) -> ssl.SSLContext:
    """A verifying TLS context (system CAs, or a CA file for self-hosted servers)."""
    return ssl.create_default_context(cafile=cafile)


def xoauth2_string(user: str, token: str) -> str:
    """The SASL XOAUTH2 initial response before base64 (Google's and Microsoft's XOAUTH2 protocol)."""
    return "user=" + user + "\x01auth=Bearer " + token + "\x01\x01"


def refused(token: Callable[[], str], value: str) -> None:
    """A login with `value` was refused: a token cache forgets it (other token callables keep nothing)."""
    if isinstance(token, ForgetsRefused):
        token.forget(value)
