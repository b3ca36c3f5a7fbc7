"""The configuration: TOML read with tomllib into frozen, validated settings; passwords may come from env."""

from __future__ import annotations

from mailbot.config.load import load_config, parse_config, resolve_config_path
from mailbot.config.settings import (
    CONFIG_ENV,
    DEFAULT_CONFIG_PATH,
    DEFAULT_OAUTH_SCOPES,
    IMAP_CLIENT_SECRET_ENV,
    IMAP_PASSWORD_ENV,
    ROLES,
    SMTP_CLIENT_SECRET_ENV,
    SMTP_PASSWORD_ENV,
    Auth,
    BotSettings,
    ClientCredentials,
    Config,
    DatabaseSettings,
    ImapSettings,
    Language,
    OAuthSettings,
    Role,
    Security,
    SmtpSettings,
    WebSettings,
)

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_CONFIG_PATH",
    "DEFAULT_OAUTH_SCOPES",
    "IMAP_CLIENT_SECRET_ENV",
    "IMAP_PASSWORD_ENV",
    "ROLES",
    "SMTP_CLIENT_SECRET_ENV",
    "SMTP_PASSWORD_ENV",
    "Auth",
    "BotSettings",
    "ClientCredentials",
    "Config",
    "DatabaseSettings",
    "ImapSettings",
    "Language",
    "OAuthSettings",
    "Role",
    "Security",
    "SmtpSettings",
    "WebSettings",
    "load_config",
    "parse_config",
    "resolve_config_path",
]
