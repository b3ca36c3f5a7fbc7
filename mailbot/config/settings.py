"""The settings: frozen dataclasses, one per table of config.toml, and the names the loader uses."""

from __future__ import annotations

import ipaddress
import zoneinfo
from dataclasses import dataclass, field
from typing import Final, Literal

from mailbot.core.model import Event

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_CONFIG_PATH",
    "DEFAULT_OAUTH_SCOPES",
    "IMAP_CLIENT_SECRET_ENV",
    "IMAP_PASSWORD_ENV",
    "MICROSOFT_LOGIN",
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
    "Network",
    "OAuthSettings",
    "Role",
    "Security",
    "SmtpSettings",
    "WebSettings",
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
Role = Literal["viewer", "hotline", "organiser", "admin"]
ROLES: Final[tuple[Role, ...]] = ("viewer", "hotline", "organiser", "admin")  # least to most allowed
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


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
class WebSettings:
    """The staff console (`mailbot web`): address, second factor, single sign-on, sessions, throttling."""

    host: str = "127.0.0.1"  # loopback: put a TLS reverse proxy in front for other machines
    port: int = 8080
    public_url: str | None = None  # the console's address as staff type it, e.g. "https://desk.example.org"
    # Roles whose local accounts must give a TOTP code at login; () turns the second factor off.
    require_second_factor: tuple[Role, ...] = ("organiser", "admin")
    trusted_user_header: str | None = None  # e.g. "X-Forwarded-User" set by oauth2-proxy: the staff name
    trusted_proxies: tuple[Network, ...] = ()  # the only peers whose trusted_user_header is believed
    session_idle_minutes: int = 30  # a session unused this long ends
    session_absolute_hours: int = 12  # every session ends this long after its login
    login_attempts_per_account: int = 5  # failed logins per account within the window, then refused
    login_attempts_per_client: int = 20  # failed logins per client address within the window, then refused
    login_attempts_window_minutes: int = 15


@dataclass(frozen=True)
class Config:
    """Everything one mailbot installation is configured with."""

    path: str  # the file as the user gave it ("<dict>" or similar when built by parse_config)
    imap: ImapSettings
    smtp: SmtpSettings
    database: DatabaseSettings
    bot: BotSettings
    events: tuple[Event, ...]  # in file order, at least one; ids and keywords unique
    web: WebSettings = field(default_factory=WebSettings)  # the staff console; defaults without [web]

    def event(self, event_id: str) -> Event:
        """The event with that id; KeyError (with the id) when none is configured."""
        for event in self.events:
            if event.id == event_id:
                return event
        raise KeyError(event_id)
