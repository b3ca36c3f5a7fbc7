"""The key tables: for each table of config.toml, its keys, how each is checked, and its default."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from mailbot.config import checks
from mailbot.config.limits import DEFAULT_CHARS, TEXT_FILE_BYTES

REQUIRED: Final = object()


@dataclass(frozen=True)
class Key:
    """How one key of a table is read."""

    check: Callable[[object], Any]
    default: object = REQUIRED
    max_chars: int = DEFAULT_CHARS  # of the string, or of each string in a list


_HOST: Final = 253  # characters: the longest DNS name
_ADDRESS: Final = 320  # characters: 64 local part, "@", 255 domain (RFC 5321 section 4.5.3.1)
_PATH: Final = 4096  # characters: Linux's PATH_MAX
_SECRET: Final = 4096  # characters: a password or client secret (a JWT may be long)


SECURITY: Final = checks.one_of("tls", "starttls", "none")

# The same keys in [imap] and [smtp]: how to log in when passwords are not allowed (Exchange Online).
OAUTH_KEYS: Final[Mapping[str, Key]] = {
    "auth": Key(checks.one_of("password", "xoauth2"), default="password"),
    "token_command": Key(checks.argv, default=None, max_chars=_PATH),
    "tenant_id": Key(checks.text, default=None, max_chars=_HOST),
    "client_id": Key(checks.text, default=None, max_chars=_HOST),
    "client_secret": Key(
        checks.secret, default=None, max_chars=_SECRET
    ),  # or MAILBOT_IMAP/SMTP_CLIENT_SECRET, or client_secret_file
    "client_secret_file": Key(checks.text, default=None, max_chars=_PATH),
    "authority": Key(checks.https_url, default=None, max_chars=2048),
    "scopes": Key(checks.scopes, default=None, max_chars=2048),
}
CLIENT_CREDENTIAL_KEYS: Final = (
    "tenant_id",
    "client_id",
    "client_secret",
    "client_secret_file",
    "authority",
    "scopes",
)

IMAP: Final[Mapping[str, Key]] = {
    "host": Key(checks.text, max_chars=_HOST),
    "port": Key(checks.port),
    "security": Key(SECURITY),
    "username": Key(checks.text, max_chars=_ADDRESS),
    "password": Key(
        checks.secret, default=None, max_chars=_SECRET
    ),  # required unless MAILBOT_IMAP_PASSWORD gives it
    "folder": Key(checks.text, default="INBOX"),
    "processed_folder": Key(checks.text, default=None),
    "timeout": Key(checks.seconds, default=30.0),
    "password_file": Key(checks.text, default=None, max_chars=_PATH),
    "ca_file": Key(checks.text, default=None, max_chars=_PATH),
    "allow_insecure": Key(checks.flag, default=False),
    "idle": Key(checks.flag, default=True),
    **OAUTH_KEYS,
}
SMTP: Final[Mapping[str, Key]] = {
    "host": Key(checks.text, max_chars=_HOST),
    "port": Key(checks.port),
    "security": Key(SECURITY),
    "username": Key(checks.text, default=None, max_chars=_ADDRESS),
    "password": Key(checks.secret, default=None, max_chars=_SECRET),  # or MAILBOT_SMTP_PASSWORD
    "sender": Key(checks.sender, max_chars=500),
    "timeout": Key(checks.seconds, default=30.0),
    "password_file": Key(checks.text, default=None, max_chars=_PATH),
    "ca_file": Key(checks.text, default=None, max_chars=_PATH),
    "allow_insecure": Key(checks.flag, default=False),
    "connections": Key(checks.connections, default=3),
    "sender_process": Key(checks.flag, default=True),
    "max_per_minute": Key(checks.limit, default=0),
    **OAUTH_KEYS,
}
DATABASE: Final[Mapping[str, Key]] = {
    "url": Key(checks.database_url, max_chars=_PATH),
}
BOT: Final[Mapping[str, Key]] = {
    "poll_interval": Key(checks.seconds, default=60.0),
    "timezone": Key(checks.timezone, default="Europe/Berlin", max_chars=64),
    "language": Key(checks.one_of("de", "en"), default="de"),
    "max_message_bytes": Key(checks.count, default=10 * 1024 * 1024),
    "batch_bytes": Key(checks.count, default=32 * 1024 * 1024),
    "max_replies_per_address_per_day": Key(checks.count, default=5),
    "max_replies_per_hour": Key(checks.count, default=10000),
    "max_repeat_replies_per_hour": Key(checks.limit, default=100),
    "max_replies_per_domain_per_hour": Key(checks.limit, default=500),
    "admin_addresses": Key(checks.addresses, default=(), max_chars=_ADDRESS),
    "require_authenticated_sender": Key(checks.flag, default=False),
    "authserv_id": Key(checks.authserv_id, default="", max_chars=_HOST),
    "fold_subaddress": Key(checks.flag, default=True),
    "alert_after_failures": Key(checks.count, default=5),
}
EVENT: Final[Mapping[str, Key]] = {
    "id": Key(checks.event_id),
    "title": Key(checks.text, max_chars=200),  # it goes into every subject line
    "keyword": Key(checks.text, max_chars=200),
    "capacity": Key(checks.count),
    "starts_at": Key(checks.moment),
    "ends_at": Key(checks.moment, default=None),
    "opens_at": Key(checks.moment, default=None),
    "closes_at": Key(checks.moment, default=None),
    "location": Key(checks.text, default="", max_chars=500),
    "access_info": Key(checks.text, default="", max_chars=TEXT_FILE_BYTES),
    "access_info_file": Key(checks.text, default=None, max_chars=_PATH),
    "send_access_at": Key(checks.moment, default=None),
    "reminder_before": Key(checks.duration, default=None),
    "templates_dir": Key(checks.text, default=None, max_chars=_PATH),
    "delete_after_days": Key(checks.days, default=30),
}
WEB: Final[Mapping[str, Key]] = {
    "host": Key(checks.host, default="127.0.0.1", max_chars=_HOST),
    "port": Key(checks.port, default=8080),
    "public_url": Key(checks.http_url, default=None, max_chars=2048),
    "require_second_factor": Key(checks.roles, default=("organiser", "admin"), max_chars=32),
    "trusted_user_header": Key(checks.header_name, default=None, max_chars=100),
    "trusted_proxies": Key(checks.networks, default=(), max_chars=64),
    "session_idle_minutes": Key(checks.count, default=30),
    "session_absolute_hours": Key(checks.count, default=12),
    "login_attempts_per_account": Key(checks.count, default=5),
    "login_attempts_per_client": Key(checks.count, default=20),
    "login_attempts_window_minutes": Key(checks.count, default=15),
}
TABLES: Final[Mapping[str, Mapping[str, Key]]] = {
    "imap": IMAP,
    "smtp": SMTP,
    "database": DATABASE,
    "bot": BOT,
    "web": WEB,
}
OPTIONAL_TABLES: Final = frozenset({"bot", "web"})
