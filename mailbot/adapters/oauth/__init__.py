"""OAuth 2.0 tokens for XOAUTH2 logins: token commands (in their own process group) and msal."""

from mailbot.adapters.oauth.tokens import (
    OAUTH_EXTRA,
    REFRESH_FRACTION,
    REFRESH_MARGIN,
    AccessToken,
    CommandTokenSource,
    MsalTokenSource,
    TokenError,
    TokenProvider,
    TokenSource,
)

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
