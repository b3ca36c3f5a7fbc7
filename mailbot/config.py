"""The configuration: TOML read with tomllib into frozen, validated settings; passwords may come from env."""

from __future__ import annotations

import ipaddress
import math
import os
import re
import shlex
import tomllib
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.errors import HeaderParseError
from email.headerregistry import AddressHeader, HeaderRegistry
from pathlib import Path
from typing import Any, Final, Literal

from mailbot.config_limits import (
    CONFIG_FILE_BYTES,
    DEFAULT_CHARS,
    SECRET_FILE_BYTES,
    TEXT_FILE_BYTES,
    FileProblem,
    read_small_file,
    too_long,
)
from mailbot.core.keyword import canonical, contains
from mailbot.core.model import Event
from mailbot.errors import ConfigError

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_CONFIG_PATH",
    "DEFAULT_OAUTH_SCOPES",
    "IMAP_CLIENT_SECRET_ENV",
    "IMAP_PASSWORD_ENV",
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
    "Security",
    "SmtpSettings",
    "load_config",
    "parse_config",
    "resolve_config_path",
]

CONFIG_ENV: Final = "MAILBOT_CONFIG"
IMAP_PASSWORD_ENV: Final = "MAILBOT_IMAP_PASSWORD"  # noqa: S105 (the name of a variable, not a password)
SMTP_PASSWORD_ENV: Final = "MAILBOT_SMTP_PASSWORD"  # noqa: S105 (the name of a variable, not a password)
IMAP_CLIENT_SECRET_ENV: Final = "MAILBOT_IMAP_CLIENT_SECRET"  # noqa: S105 (the name of a variable)
SMTP_CLIENT_SECRET_ENV: Final = "MAILBOT_SMTP_CLIENT_SECRET"  # noqa: S105 (the name of a variable)
# Exchange Online's IMAP and SMTP, for an app granted access to the mailbox (client-credentials flow).
DEFAULT_OAUTH_SCOPES: Final = ("https://outlook.office365.com/.default",)
MICROSOFT_LOGIN: Final = "https://login.microsoftonline.com/"
DEFAULT_CONFIG_PATH: Final = "config.toml"

Security = Literal["tls", "starttls", "none"]
Language = Literal["de", "en"]
Auth = Literal["password", "xoauth2"]


@dataclass(frozen=True)
class ClientCredentials:
    """An app in Microsoft Entra ID allowed to use the mailbox (OAuth 2.0 client credentials, via msal)."""

    tenant_id: str  # the directory: a GUID or a domain like "castrop-rauxel.de"
    client_id: str  # the app's (client) id
    client_secret: str = field(repr=False)
    authority: str  # e.g. "https://login.microsoftonline.com/<tenant_id>"
    scopes: tuple[str, ...] = DEFAULT_OAUTH_SCOPES


@dataclass(frozen=True)
class OAuthSettings:
    """Where the access tokens of a SASL XOAUTH2 login come from: exactly one of the two is set."""

    token_command: tuple[str, ...] | None = None  # argv, run without a shell; prints the token (or JSON)
    client_credentials: ClientCredentials | None = None


@dataclass(frozen=True)
class ImapSettings:
    """The mailbox the registrations arrive in, and how to reach it."""

    host: str
    port: int
    security: Security
    username: str
    password: str = field(repr=False)  # "" with auth = "xoauth2"
    folder: str = "INBOX"
    processed_folder: str | None = None  # where handled mail is moved; None: it stays (flagged) in folder
    timeout: float = 30.0  # seconds
    ca_file: str | None = None  # extra CA certificates for a self-hosted server (PEM)
    allow_insecure: bool = False  # security = "none" on a non-loopback host
    idle: bool = (
        True  # wait in IMAP IDLE for new mail when the server offers it (polling stays as safety net)
    )
    auth: Auth = "password"  # "xoauth2": log in with an OAuth 2.0 access token (Microsoft 365, Google)
    oauth: OAuthSettings | None = None  # set exactly when auth = "xoauth2"


@dataclass(frozen=True)
class SmtpSettings:
    """The server the replies are sent through, and who they are from."""

    host: str
    port: int
    security: Security
    username: str | None  # None: send without logging in
    password: str | None = field(repr=False)  # None with auth = "xoauth2"
    sender: str  # as written, e.g. "Stadt Castrop-Rauxel <digitalisierung@castrop-rauxel.de>"
    sender_name: str  # the display name, decoded ("" when there is none)
    sender_address: str  # the addr-spec, e.g. "digitalisierung@castrop-rauxel.de"
    timeout: float = 30.0  # seconds
    ca_file: str | None = None  # extra CA certificates for a self-hosted server (PEM)
    allow_insecure: bool = False  # security = "none" on a non-loopback host
    # SMTP connections sending replies at the same time. 3: Exchange Online takes three per mailbox at once
    # (a fourth gets "432 4.3.2 concurrent connections limit exceeded").
    connections: int = 3
    sender_process: bool = True  # `mailbot run` sends from a second process beside the pass (a second core)
    # Replies per minute at most, evenly spaced, in order (0: as fast as the server takes them). Exchange
    # Online takes about 30 per minute per mailbox; its throttling answers slow the pace further.
    max_per_minute: int = 0
    auth: Auth = "password"  # "xoauth2": log in with an OAuth 2.0 access token (Microsoft 365, Google)
    oauth: OAuthSettings | None = None  # set exactly when auth = "xoauth2"


@dataclass(frozen=True)
class DatabaseSettings:
    """Where registrations, the ledger and the outbox are stored (an SQLAlchemy URL)."""

    url: str


@dataclass(frozen=True)
class BotSettings:
    """How the desk behaves: polling, local time, reply language, size limit."""

    poll_interval: float = 60.0  # seconds between two passes over the mailbox
    timezone: str = "Europe/Berlin"  # for dates in replies and exports
    language: Language = "de"  # of the reply texts
    max_message_bytes: int = 10 * 1024 * 1024  # larger mails are not parsed but left for staff
    batch_bytes: int = 32 * 1024 * 1024  # bodies read (and held) at once by a pass: bounds its memory
    max_replies_per_address_per_day: int = 5  # then one last notice, then silence (no backscatter storms)
    max_replies_per_hour: int = 10000  # all replies; past it sending pauses and the admins get one alert
    max_repeat_replies_per_hour: int = 100  # a storm: most replies to addresses answered in the hour; 0 = off
    max_replies_per_domain_per_hour: int = 500  # a storm: most replies to one domain (one source); 0 = off
    admin_addresses: tuple[str, ...] = ()  # who gets alert mails
    require_authenticated_sender: bool = False  # reply only to DMARC/SPF-aligned senders; hold the rest
    fold_subaddress: bool = True  # anna+1@x and anna+2@x are one person for duplicates (RFC 5233 +tag)
    authserv_id: str = ""  # our receiving server's Authentication-Results id: the only one trusted
    alert_after_failures: int = 5  # consecutive failed passes before the admins are alerted

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        """The time zone as an object (the name was validated on load)."""
        return zoneinfo.ZoneInfo(self.timezone)


@dataclass(frozen=True)
class Config:
    """Everything one mailbot installation is configured with."""

    path: str  # the file as the user gave it ("<dict>" or similar when built by parse_config)
    imap: ImapSettings
    smtp: SmtpSettings
    database: DatabaseSettings
    bot: BotSettings
    events: tuple[Event, ...]  # in file order, at least one; ids and keywords unique

    def event(self, event_id: str) -> Event:
        """The event with that id; KeyError (with the id) when none is configured."""
        for event in self.events:
            if event.id == event_id:
                return event
        raise KeyError(event_id)


# --- entry points -------------------------------------------------------------------------------------------


def resolve_config_path(cli_value: str | None, env: Mapping[str, str] | None = None) -> str:
    """The file to read: ``--config PATH`` if given, else ``$MAILBOT_CONFIG``, else ``config.toml`` here."""
    if cli_value is not None:
        return cli_value
    environ = os.environ if env is None else env
    return environ.get(CONFIG_ENV) or DEFAULT_CONFIG_PATH


def load_config(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Config:
    """Read and validate the TOML file at ``path``; ConfigError names the first problem and its key."""
    shown = os.fspath(path)
    try:
        data = tomllib.loads(read_small_file(shown, CONFIG_FILE_BYTES).decode("utf-8"))
    except FileProblem as problem:
        raise ConfigError(shown, "file", str(problem)) from None
    except FileNotFoundError:
        raise ConfigError(shown, "file", "not found") from None
    except PermissionError:
        raise ConfigError(shown, "file", "permission denied") from None
    except OSError as error:
        raise ConfigError(shown, "file", error.strerror or str(error)) from None
    except UnicodeDecodeError:
        raise ConfigError(shown, "file", "is not UTF-8 text (TOML files must be UTF-8)") from None
    except tomllib.TOMLDecodeError as error:
        # The parser's message names the line and column; keep it on one line for log files.
        raise ConfigError(shown, "file", " ".join(str(error).split())) from None
    return parse_config(data, shown, env)


def parse_config(data: Mapping[str, object], path: str, env: Mapping[str, str] | None = None) -> Config:
    """Validate already-parsed TOML data (``path`` is only used in messages); env defaults to os.environ."""
    environ = os.environ if env is None else env
    for name, value in data.items():
        if name not in _TABLES and name != "events":
            if isinstance(value, dict):
                raise ConfigError(path, f"[{name}]", "unknown table")
            if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
                raise ConfigError(path, f"[[{name}]]", "unknown table")
            raise ConfigError(path, name, "unknown key")
    tables = {
        name: _read_table(path, f"[{name}]", _table(path, data, name), spec) for name, spec in _TABLES.items()
    }
    return Config(
        path=path,
        imap=_imap(path, tables["imap"], environ),
        smtp=_smtp(path, tables["smtp"], environ),
        database=DatabaseSettings(**tables["database"]),
        bot=_bot(path, tables["bot"]),
        events=_events(path, data),
    )


# --- the checks: each takes the raw TOML value and returns it converted, or raises _Invalid ----------------


class _Invalid(Exception):
    """A value failed its check; the caller adds the path and key."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


_EXAMPLE_MOMENT: Final = "2020-10-08T18:00:00+02:00"
_EXAMPLE_SENDER: Final = '"Stadt Castrop-Rauxel <digitalisierung@castrop-rauxel.de>"'
_EVENT_ID: Final = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_URL_SCHEME: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


def _string(value: object) -> str:
    if not isinstance(value, str):
        raise _Invalid("must be a string")
    return value


def _text(value: object) -> str:
    text = _string(value)
    if not text.strip():
        raise _Invalid("must not be empty")
    return text


def _secret(value: object) -> str:
    # Never echo the value: it is a password.
    text = _string(value)
    if not text:
        raise _Invalid("must not be empty")
    return text


def _integer(value: object) -> int:
    # bool is a subclass of int in Python, but `port = true` is a mistake, not 1.
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Invalid("must be an integer")
    return value


def _port(value: object) -> int:
    port = _integer(value)
    if not 1 <= port <= 65535:
        raise _Invalid("must be between 1 and 65535")
    return port


def _count(value: object) -> int:
    number = _integer(value)
    if number < 1:
        raise _Invalid("must be at least 1")
    return number


def _limit(value: object) -> int:
    number = _integer(value)
    if number < 0:
        raise _Invalid("must be 0 (off) or more")
    return number


def _connections(value: object) -> int:
    number = _count(value)
    if number > 16:
        raise _Invalid("must be at most 16 (mail providers throttle many parallel connections)")
    return number


def _seconds(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Invalid("must be a number (of seconds)")
    if not math.isfinite(value) or value <= 0:
        raise _Invalid("must be greater than 0")
    return float(value)


_SHELL_OPERATORS: Final = frozenset({"|", "||", "&", "&&", ";", "<", ">", ">>", "2>", "2>&1"})


def _argv(value: object) -> tuple[str, ...]:
    """A command run without a shell: a string split like a shell would (shlex), or a list of strings."""
    if isinstance(value, str):
        try:
            words = shlex.split(value)
        except ValueError as exc:
            raise _Invalid(f"cannot be split into words ({exc})") from None
        if _SHELL_OPERATORS & set(words):
            raise _Invalid("runs without a shell: put pipes and redirections into a script and name that")
    elif isinstance(value, list) and all(isinstance(word, str) for word in value):
        words = list(value)
    else:
        raise _Invalid('must be a command, e.g. "/usr/local/bin/get-token desk" or ["get-token", "desk"]')
    if not words or not words[0].strip():
        raise _Invalid("must not be empty")
    return tuple(words)


def _https_url(value: object) -> str:
    url = _text(value)
    if not url.startswith("https://") or len(url) <= len("https://"):
        raise _Invalid('must be an https:// URL, e.g. "https://login.microsoftonline.com/<tenant_id>"')
    return url.rstrip("/")


def _scopes(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
        raise _Invalid('must be a list of scopes, e.g. ["https://outlook.office365.com/.default"]')
    return tuple(value)


def _authserv_id(value: object) -> str:
    text = _text(value).strip()
    if any(ch.isspace() or ch in '();"' for ch in text):
        raise _Invalid('must be one word, as the receiving server writes it (e.g. "mx.castrop-rauxel.de")')
    return text


def _one_of(*choices: str) -> Callable[[object], str]:
    def check(value: object) -> str:
        text = _string(value)
        if text not in choices:
            raise _Invalid("must be one of " + ", ".join(f'"{choice}"' for choice in choices))
        return text

    return check


def _timezone(value: object) -> str:
    name = _text(value)
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise _Invalid(f'unknown time zone "{name}" (use a name like "Europe/Berlin")') from None
    return name


def _split_sender(value: str) -> tuple[str, str]:
    """The display name and addr-spec of a From value (RFC 5322 mailbox), or _Invalid."""
    try:
        header = HeaderRegistry()("from", value)
    except (HeaderParseError, ValueError, IndexError, AttributeError, TypeError):
        raise _Invalid(f"is not a valid address; write e.g. {_EXAMPLE_SENDER}") from None
    if not isinstance(header, AddressHeader):  # the registry's class for "from"; this narrows the type
        raise _Invalid(f"is not a valid address; write e.g. {_EXAMPLE_SENDER}")
    addresses = header.addresses
    if len(addresses) != 1:
        raise _Invalid(f"must be exactly one address, e.g. {_EXAMPLE_SENDER}")
    address = addresses[0]
    if header.defects or not address.username or not address.domain:
        raise _Invalid(f"is not a valid address; write e.g. {_EXAMPLE_SENDER}")
    return address.display_name, address.addr_spec


def _sender(value: object) -> str:
    text = _text(value)
    _split_sender(text)
    return text


def _addresses(value: object) -> tuple[str, ...]:
    """A list of plain addresses (admins' mailboxes)."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _Invalid('must be a list of addresses, e.g. ["it@example.org"]')
    out = []
    for item in value:
        _, address = _split_sender(item)
        out.append(address)
    return tuple(out)


def _database_url(value: object) -> str:
    url = _text(value)
    if not _URL_SCHEME.match(url):
        raise _Invalid('must be a database URL like "sqlite:///mailbot.db"')
    return url


def _event_id(value: object) -> str:
    text = _text(value)
    if not _EVENT_ID.fullmatch(text):
        raise _Invalid(
            'must be 1 to 64 of a-z, 0-9, ".", "_", "-", starting with a letter or digit, '
            'e.g. "digitalisierung-2020"'
        )
    return text


def _moment(value: object) -> datetime:
    # TOML has a native offset date-time; an ISO 8601 string is accepted too. Without an offset the
    # moment is ambiguous (which zone? which side of a DST change?), so it is refused.
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise _Invalid(
                f"must be an ISO 8601 date and time with UTC offset, e.g. {_EXAMPLE_MOMENT}"
            ) from None
    if not isinstance(value, datetime):  # a TOML local date or time, a number, ...
        raise _Invalid(f"must be a date and time with UTC offset, e.g. {_EXAMPLE_MOMENT}")
    if value.utcoffset() is None:
        raise _Invalid(f"has no UTC offset; write e.g. {_EXAMPLE_MOMENT}")
    return value


_DURATION = re.compile(r"^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")


def _flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise _Invalid("must be true or false")
    return value


def _days(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _Invalid("must be a whole number of days (0 or more)")
    return value


def _duration(value: object) -> timedelta:
    """An ISO 8601 duration such as "PT2H", "P1D", "P1DT12H" (weeks, days, hours, minutes, seconds)."""
    text = _text(value).upper()
    found = _DURATION.match(text)
    if not found or text in ("P", "PT") or text.endswith("T"):
        raise _Invalid('must be an ISO 8601 duration, e.g. "PT2H" (2 hours) or "P1D" (1 day)')
    weeks, days, hours, minutes, seconds = (int(g or 0) for g in found.groups())
    result = timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)
    if not result:
        raise _Invalid("must be longer than zero")
    return result


# --- the tables: key -> how to check it, and its default (absent: required) -------------------------------

_REQUIRED: Final = object()


@dataclass(frozen=True)
class _Key:
    """How one key of a table is read."""

    check: Callable[[object], Any]
    default: object = _REQUIRED
    max_chars: int = DEFAULT_CHARS  # of the string, or of each string in a list


_HOST: Final = 253  # characters: the longest DNS name
_ADDRESS: Final = 320  # characters: 64 local part, "@", 255 domain (RFC 5321 section 4.5.3.1)
_PATH: Final = 4096  # characters: Linux's PATH_MAX
_SECRET: Final = 4096  # characters: a password or client secret (a JWT may be long)


_SECURITY: Final = _one_of("tls", "starttls", "none")

# The same keys in [imap] and [smtp]: how to log in when passwords are not allowed (Exchange Online).
_OAUTH_KEYS: Final[Mapping[str, _Key]] = {
    "auth": _Key(_one_of("password", "xoauth2"), default="password"),
    "token_command": _Key(_argv, default=None, max_chars=_PATH),
    "tenant_id": _Key(_text, default=None, max_chars=_HOST),
    "client_id": _Key(_text, default=None, max_chars=_HOST),
    "client_secret": _Key(
        _secret, default=None, max_chars=_SECRET
    ),  # or MAILBOT_IMAP/SMTP_CLIENT_SECRET, or client_secret_file
    "client_secret_file": _Key(_text, default=None, max_chars=_PATH),
    "authority": _Key(_https_url, default=None, max_chars=2048),
    "scopes": _Key(_scopes, default=None, max_chars=2048),
}
_CLIENT_CREDENTIAL_KEYS: Final = (
    "tenant_id",
    "client_id",
    "client_secret",
    "client_secret_file",
    "authority",
    "scopes",
)

_IMAP: Final[Mapping[str, _Key]] = {
    "host": _Key(_text, max_chars=_HOST),
    "port": _Key(_port),
    "security": _Key(_SECURITY),
    "username": _Key(_text, max_chars=_ADDRESS),
    "password": _Key(
        _secret, default=None, max_chars=_SECRET
    ),  # required unless MAILBOT_IMAP_PASSWORD gives it
    "folder": _Key(_text, default="INBOX"),
    "processed_folder": _Key(_text, default=None),
    "timeout": _Key(_seconds, default=30.0),
    "password_file": _Key(_text, default=None, max_chars=_PATH),
    "ca_file": _Key(_text, default=None, max_chars=_PATH),
    "allow_insecure": _Key(_flag, default=False),
    "idle": _Key(_flag, default=True),
    **_OAUTH_KEYS,
}
_SMTP: Final[Mapping[str, _Key]] = {
    "host": _Key(_text, max_chars=_HOST),
    "port": _Key(_port),
    "security": _Key(_SECURITY),
    "username": _Key(_text, default=None, max_chars=_ADDRESS),
    "password": _Key(_secret, default=None, max_chars=_SECRET),  # or MAILBOT_SMTP_PASSWORD
    "sender": _Key(_sender, max_chars=500),
    "timeout": _Key(_seconds, default=30.0),
    "password_file": _Key(_text, default=None, max_chars=_PATH),
    "ca_file": _Key(_text, default=None, max_chars=_PATH),
    "allow_insecure": _Key(_flag, default=False),
    "connections": _Key(_connections, default=3),
    "sender_process": _Key(_flag, default=True),
    "max_per_minute": _Key(_limit, default=0),
    **_OAUTH_KEYS,
}
_DATABASE: Final[Mapping[str, _Key]] = {
    "url": _Key(_database_url, max_chars=_PATH),
}
_BOT: Final[Mapping[str, _Key]] = {
    "poll_interval": _Key(_seconds, default=60.0),
    "timezone": _Key(_timezone, default="Europe/Berlin", max_chars=64),
    "language": _Key(_one_of("de", "en"), default="de"),
    "max_message_bytes": _Key(_count, default=10 * 1024 * 1024),
    "batch_bytes": _Key(_count, default=32 * 1024 * 1024),
    "max_replies_per_address_per_day": _Key(_count, default=5),
    "max_replies_per_hour": _Key(_count, default=10000),
    "max_repeat_replies_per_hour": _Key(_limit, default=100),
    "max_replies_per_domain_per_hour": _Key(_limit, default=500),
    "admin_addresses": _Key(_addresses, default=(), max_chars=_ADDRESS),
    "require_authenticated_sender": _Key(_flag, default=False),
    "authserv_id": _Key(_authserv_id, default="", max_chars=_HOST),
    "fold_subaddress": _Key(_flag, default=True),
    "alert_after_failures": _Key(_count, default=5),
}
_EVENT: Final[Mapping[str, _Key]] = {
    "id": _Key(_event_id),
    "title": _Key(_text, max_chars=200),  # it goes into every subject line
    "keyword": _Key(_text, max_chars=200),
    "capacity": _Key(_count),
    "starts_at": _Key(_moment),
    "ends_at": _Key(_moment, default=None),
    "opens_at": _Key(_moment, default=None),
    "closes_at": _Key(_moment, default=None),
    "location": _Key(_text, default="", max_chars=500),
    "access_info": _Key(_text, default="", max_chars=TEXT_FILE_BYTES),
    "access_info_file": _Key(_text, default=None, max_chars=_PATH),
    "send_access_at": _Key(_moment, default=None),
    "reminder_before": _Key(_duration, default=None),
    "templates_dir": _Key(_text, default=None, max_chars=_PATH),
    "delete_after_days": _Key(_days, default=30),
}
_TABLES: Final[Mapping[str, Mapping[str, _Key]]] = {
    "imap": _IMAP,
    "smtp": _SMTP,
    "database": _DATABASE,
    "bot": _BOT,
}
_OPTIONAL_TABLES: Final = frozenset({"bot"})


def _table(path: str, data: Mapping[str, object], name: str) -> Mapping[str, object]:
    """The raw table ``[name]``; an optional table that is absent reads as empty."""
    if name not in data:
        if name in _OPTIONAL_TABLES:
            return {}
        raise ConfigError(path, f"[{name}]", "missing")
    value = data[name]
    if not isinstance(value, dict):
        raise ConfigError(path, f"[{name}]", "must be a table")
    return value


def _read_table(path: str, label: str, raw: Mapping[str, object], spec: Mapping[str, _Key]) -> dict[str, Any]:
    """Check every key of one table against its spec; the result has a value (or default) for each."""
    for key in raw:
        if key not in spec:  # before "missing": a typo like "hots" is the cause, "host missing" the effect
            raise ConfigError(path, f"{label} {key}", "unknown key")
    values: dict[str, Any] = {}
    for key, rule in spec.items():
        if key not in raw:
            if rule.default is _REQUIRED:
                raise ConfigError(path, f"{label} {key}", "missing")
            values[key] = rule.default
            continue
        long = too_long(raw[key], rule.max_chars)
        if long:
            raise ConfigError(path, f"{label} {key}", long)
        try:
            values[key] = rule.check(raw[key])
        except _Invalid as invalid:
            raise ConfigError(path, f"{label} {key}", invalid.problem) from None
    return values


def _read_file(path: str, key: str, file: Path, limit: int) -> str:
    """A small UTF-8 text file named by `key`, stripped; ConfigError if it is not one (config_limits)."""
    try:
        return read_small_file(file, limit).decode("utf-8").strip()
    except FileProblem as problem:
        raise ConfigError(path, key, str(problem)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, key, f"cannot be read ({type(exc).__name__})") from None


def _env_secret(env: Mapping[str, str], name: str) -> str | None:
    """A password from the environment; set but empty counts as unset."""
    return env.get(name) or None


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _transport(
    path: str, table: str, values: dict[str, Any], env: Mapping[str, str], env_name: str
) -> str | None:
    """Shared [imap]/[smtp] checks: plaintext only on loopback; files next to the config; the password.

    The password comes from the environment, else `password_file` (Docker/Kubernetes secrets), else the file.
    """
    base = Path(path).parent if not path.startswith("<") else Path.cwd()
    if values["security"] == "none" and not values["allow_insecure"] and not _is_loopback(values["host"]):
        raise ConfigError(
            path,
            f"[{table}] security",
            '"none" sends passwords unencrypted: only for loopback hosts, unless allow_insecure = true',
        )
    if values["ca_file"] is not None:
        ca = base / values["ca_file"]
        if not ca.is_file():
            raise ConfigError(path, f"[{table}] ca_file", "is not a readable file")
        values["ca_file"] = str(ca)
    secret_file = values.pop("password_file")
    password: str | None = _env_secret(env, env_name)
    if password is None and secret_file is not None:
        password = _read_file(path, f"[{table}] password_file", base / secret_file, SECRET_FILE_BYTES) or None
    return password or values["password"]


def _oauth(
    path: str, table: str, values: dict[str, Any], env: Mapping[str, str], env_name: str
) -> OAuthSettings | None:
    """The XOAUTH2 keys of [imap]/[smtp] (taken out of `values`); None for auth = "password".

    The client secret comes from the environment, else `client_secret_file`, else the file, like passwords.
    """
    raw = {key: values.pop(key) for key in ("token_command", *_CLIENT_CREDENTIAL_KEYS)}
    given = [key for key, value in raw.items() if value is not None]
    if values["auth"] != "xoauth2":
        if given:
            raise ConfigError(path, f"[{table}] {given[0]}", 'only used with auth = "xoauth2"')
        return None
    for key in ("password", "password_file"):
        if values[key] is not None:
            raise ConfigError(path, f"[{table}] {key}", 'not used with auth = "xoauth2": remove it')
    base = Path(path).parent if not path.startswith("<") else Path.cwd()
    credentials = [key for key in _CLIENT_CREDENTIAL_KEYS if raw[key] is not None]
    command: tuple[str, ...] | None = raw["token_command"]
    if command is not None:
        if credentials:
            raise ConfigError(
                path,
                f"[{table}] {credentials[0]}",
                "give token_command or client credentials (tenant_id, client_id, client_secret), not both",
            )
        if "/" in command[0] and not Path(command[0]).is_absolute():
            command = (str(base / command[0]), *command[1:])  # a script next to the config file
        return OAuthSettings(token_command=command)
    if not credentials:
        raise ConfigError(
            path,
            f"[{table}] token_command",
            'missing: auth = "xoauth2" needs token_command, or tenant_id, client_id and client_secret',
        )
    granted = _client_credentials(path, table, raw, base=base, env=env, env_name=env_name)
    return OAuthSettings(client_credentials=granted)


def _client_credentials(
    path: str, table: str, raw: dict[str, Any], *, base: Path, env: Mapping[str, str], env_name: str
) -> ClientCredentials:
    """Microsoft's client credentials; the secret from the environment, else client_secret_file, else here."""
    for key in ("tenant_id", "client_id"):
        if raw[key] is None:
            raise ConfigError(path, f"[{table}] {key}", 'missing (auth = "xoauth2" with client credentials)')
    secret = _env_secret(env, env_name)
    if secret is None and raw["client_secret_file"] is not None:
        where = f"[{table}] client_secret_file"
        secret = _read_file(path, where, base / raw["client_secret_file"], SECRET_FILE_BYTES) or None
    secret = secret or raw["client_secret"]
    if secret is None:
        raise ConfigError(
            path, f"[{table}] client_secret", f"missing (set it here, in {env_name}, or client_secret_file)"
        )
    tenant: str = raw["tenant_id"]
    return ClientCredentials(
        tenant_id=tenant,
        client_id=raw["client_id"],
        client_secret=secret,
        authority=raw["authority"] or MICROSOFT_LOGIN + tenant,
        scopes=raw["scopes"] or DEFAULT_OAUTH_SCOPES,
    )


def _imap(path: str, values: dict[str, Any], env: Mapping[str, str]) -> ImapSettings:
    oauth = _oauth(path, "imap", values, env, IMAP_CLIENT_SECRET_ENV)
    password = _transport(path, "imap", values, env, IMAP_PASSWORD_ENV)
    if oauth is not None:
        password = ""  # the login uses an access token (MAILBOT_IMAP_PASSWORD, if set, is not used)
    elif password is None:
        raise ConfigError(path, "[imap] password", f"missing (set it here or in {IMAP_PASSWORD_ENV})")
    if values["processed_folder"] is not None and values["processed_folder"] == values["folder"]:
        raise ConfigError(path, "[imap] processed_folder", "must differ from folder")
    return ImapSettings(**{**values, "password": password, "oauth": oauth})


def _smtp(path: str, values: dict[str, Any], env: Mapping[str, str]) -> SmtpSettings:
    oauth = _oauth(path, "smtp", values, env, SMTP_CLIENT_SECRET_ENV)
    password = _transport(path, "smtp", values, env, SMTP_PASSWORD_ENV)
    if oauth is not None:
        password = None  # the login uses an access token (MAILBOT_SMTP_PASSWORD, if set, is not used)
        if values["username"] is None:
            raise ConfigError(path, "[smtp] username", 'missing (auth = "xoauth2" logs in as this mailbox)')
    elif password is not None and values["username"] is None:
        raise ConfigError(path, "[smtp] username", "missing (a password is set, so a login is intended)")
    sender_name, sender_address = _split_sender(values["sender"])
    return SmtpSettings(
        **{**values, "password": password, "oauth": oauth},
        sender_name=sender_name,
        sender_address=sender_address,
    )


def _bot(path: str, values: dict[str, Any]) -> BotSettings:
    bot = BotSettings(**values)
    if bot.require_authenticated_sender and not bot.authserv_id:
        # Without it any Authentication-Results header would do, and anyone can write one (RFC 8601 §5).
        raise ConfigError(
            path,
            "[bot] authserv_id",
            "missing: require_authenticated_sender = true trusts only the Authentication-Results of your "
            "receiving server; set its authserv-id (the first word of the headers it adds)",
        )
    return bot


def _keyword_key(keyword: str) -> tuple[str, ...]:
    """A keyword as the matcher sees it (case, spaces, 8.10 vs 08.10., ü/ue both ways): keyword.canonical."""
    key = canonical(keyword)
    if not key:
        raise ValueError("empty keyword")
    return key


def _event(path: str, where: str, values: dict[str, Any]) -> Event:
    """One event with its cross-key checks; files named in it are relative to the config file."""
    base = Path(path).parent if not path.startswith("<") else Path.cwd()
    info_file = values.pop("access_info_file")
    if info_file is not None:
        if values["access_info"]:
            raise ConfigError(
                path, f"{where} access_info_file", "give access_info or access_info_file, not both"
            )
        values["access_info"] = _read_file(
            path, f"{where} access_info_file", base / info_file, TEXT_FILE_BYTES
        )
    if values["templates_dir"] is not None:
        folder = base / values["templates_dir"]
        if not folder.is_dir():
            raise ConfigError(path, f"{where} templates_dir", "is not a directory")
        values["templates_dir"] = str(folder)
    event = Event(**values)
    if event.ends_at is not None and event.ends_at <= event.starts_at:
        raise ConfigError(path, f"{where} ends_at", "must be after starts_at")
    if event.opens_at is not None and event.closes_at is not None and event.closes_at <= event.opens_at:
        raise ConfigError(path, f"{where} closes_at", "must be after opens_at")
    if event.send_access_at is not None and not event.access_info:
        raise ConfigError(path, f"{where} send_access_at", "needs access_info or access_info_file")
    return event


def _events(path: str, data: Mapping[str, object]) -> tuple[Event, ...]:
    if "events" not in data:
        raise ConfigError(path, "[[events]]", "missing (at least one event is required)")
    raw = data["events"]
    if not isinstance(raw, list):
        raise ConfigError(path, "[[events]]", "must be an array of tables: start each event with [[events]]")
    if not raw:
        raise ConfigError(path, "[[events]]", "at least one event is required")
    events: list[Event] = []
    numbers_by_id: dict[str, int] = {}
    numbers_by_keyword: dict[tuple[str, ...], int] = {}
    for number, item in enumerate(raw, start=1):
        where = f"[[events]] #{number}"  # 1-based, in file order
        if not isinstance(item, dict):
            raise ConfigError(path, where, "must be a table")
        event = _event(path, where, _read_table(path, where, item, _EVENT))
        if event.id in numbers_by_id:
            raise ConfigError(
                path, f"{where} id", f'"{event.id}" is already the id of event #{numbers_by_id[event.id]}'
            )
        try:
            keyword = _keyword_key(event.keyword)
        except ValueError:
            raise ConfigError(path, f"{where} keyword", "has no words or date to look for") from None
        if keyword in numbers_by_keyword:
            other = numbers_by_keyword[keyword]
            raise ConfigError(
                path, f"{where} keyword", f'same keyword as event #{other} ("{events[other - 1].id}")'
            )
        for known, other in numbers_by_keyword.items():
            # One keyword inside the other: every mail naming the longer one would book both events.
            relation = (
                "contains" if contains(keyword, known) else "is part of" if contains(known, keyword) else ""
            )
            if relation:
                raise ConfigError(
                    path,
                    f"{where} keyword",
                    f'{relation} the keyword of event #{other} ("{events[other - 1].id}"): '
                    "a mail naming the longer one would book both",
                )
        numbers_by_id[event.id] = number
        numbers_by_keyword[keyword] = number
        events.append(event)
    return tuple(events)
