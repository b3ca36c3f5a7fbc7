"""The one composition root: Config -> adapters -> Desk. Tests and the demo pass their own pieces."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from mailbot.accounts import Accounts
from mailbot.adapters import bounces
from mailbot.adapters.credentials import Argon2Credentials
from mailbot.adapters.db import Database
from mailbot.adapters.db.staff import SqlStaffStore
from mailbot.adapters.imap import PreparedMailbox, open_mailbox
from mailbot.adapters.oauth import CommandTokenSource, MsalTokenSource, TokenProvider, TokenSource
from mailbot.adapters.smtp import SmtpMailer
from mailbot.config import Config, OAuthSettings, WebSettings
from mailbot.core.pacing import Pacer
from mailbot.core.rules.own_mail import MESSAGE_ID_MARK
from mailbot.core.staff import AccountPolicy, Role
from mailbot.ports import Clock, Mailbox
from mailbot.service import Desk
from mailbot.templates import load_overrides, load_templates


def utc_now() -> datetime:
    """The real clock, aware, in UTC."""
    return datetime.now(UTC)


def open_database(config: Config) -> Database:
    """The configured database, migrated to the newest schema, with the configured events in it."""
    db = Database(config.database.url, fold_subaddress=config.bot.fold_subaddress)
    db.migrate()
    with db.transaction() as tx:
        tx.sync_events(config.events)
    return db


def _token_provider(oauth: OAuthSettings | None, timeout: float) -> Callable[[], str] | None:
    """A cached, self-refreshing access token from the configured source; None for a password login."""
    if oauth is None:
        return None
    source: TokenSource
    if oauth.token_command is not None:
        source = CommandTokenSource(oauth.token_command, timeout=timeout)
    else:
        credentials = oauth.client_credentials
        assert credentials is not None  # config: exactly one of the two is set
        source = MsalTokenSource(
            client_id=credentials.client_id,
            client_secret=credentials.client_secret,
            authority=credentials.authority,
            scopes=credentials.scopes,
            timeout=timeout,
        )
    return TokenProvider(source).token


def imap_token(config: Config) -> Callable[[], str] | None:
    """The access tokens of the IMAP login with [imap] auth = "xoauth2"; None with a password.

    Build it once per connection kind and reuse it: the token is cached until shortly before it expires.
    """
    return _token_provider(config.imap.oauth, config.imap.timeout)


def smtp_token(config: Config) -> Callable[[], str] | None:
    """The access tokens of the SMTP login with [smtp] auth = "xoauth2"; None with a password (or none)."""
    return _token_provider(config.smtp.oauth, config.smtp.timeout)


def build_desk(
    config: Config,
    *,
    db: Database | None = None,
    clock: Clock = utc_now,
    stop: threading.Event | None = None,
    prepared: PreparedMailbox | None = None,
) -> Desk:
    """Wire the real adapters for a configuration (`prepared`: the first pass's connection, opened ahead)."""
    smtp = config.smtp
    token = imap_token(config)  # one cache for every pass's login

    def mailbox() -> Mailbox:
        ahead = prepared.take() if prepared is not None else None
        return ahead or open_mailbox(config.imap, token)

    domain = smtp.sender_address.rsplit("@", 1)[1]

    def new_message_id() -> str:
        return f"<{secrets.token_hex(16)}{MESSAGE_ID_MARK}{domain}>"  # 128 random bits, as a uuid4 had

    pacer = Pacer(smtp.max_per_minute)  # shared: the mailer spaces the mails, the desk bounds each flush
    mailer = SmtpMailer(
        host=smtp.host,
        port=smtp.port,
        security=smtp.security,
        username=smtp.username,
        password=smtp.password,
        timeout=smtp.timeout,
        cafile=smtp.ca_file,
        token=smtp_token(config),
        connections=smtp.connections,
        pacer=pacer,
    )
    db = db or open_database(config)
    return Desk(
        config=config,
        db=db,
        journal=db.sent_journal(),
        mailbox_factory=mailbox,
        mailer=mailer,
        clock=clock,
        new_message_id=new_message_id,
        templates=load_templates(config.bot.language),
        stop=stop,
        read_bounce=bounces.read,
        event_templates={event.id: load_overrides(event.templates_dir) for event in config.events},
        pacer=pacer,
    )


def account_policy(web: WebSettings) -> AccountPolicy:
    """The account rules of the `[web]` settings."""
    return AccountPolicy(
        second_factor_roles=frozenset(Role.parse(role) for role in web.require_second_factor),
        session_idle=timedelta(minutes=web.session_idle_minutes),
        session_absolute=timedelta(hours=web.session_absolute_hours),
        attempts_per_account=web.login_attempts_per_account,
        attempts_per_client=web.login_attempts_per_client,
        throttle_window=timedelta(minutes=web.login_attempts_window_minutes),
    )


def build_accounts(db: Database, web: WebSettings, clock: Clock = utc_now) -> Accounts:
    """The staff accounts' use-cases on the database (argon2id, TOTP): `mailbot user`, the console."""
    return Accounts(SqlStaffStore(db), Argon2Credentials(), clock, account_policy(web))
