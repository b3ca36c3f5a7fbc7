"""The desk wired from its adapters: used by bootstrap, and all the sending process imports (no Alembic)."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from mailbot.adapters import bounces
from mailbot.adapters.addresses import EmailValidatorAddresses
from mailbot.adapters.db import Database
from mailbot.adapters.imap import PreparedMailbox, open_mailbox
from mailbot.adapters.oauth import CommandTokenSource, MsalTokenSource, TokenProvider, TokenSource
from mailbot.adapters.smtp import SmtpMailer
from mailbot.config import Config, OAuthSettings
from mailbot.core.pacing import Pacer
from mailbot.core.rules.own_mail import MESSAGE_ID_MARK
from mailbot.ports import Clock, Mailbox
from mailbot.ports.addresses import Addresses
from mailbot.ports.exports import ExportFiles
from mailbot.service import Desk
from mailbot.templates import load_overrides, load_templates


def utc_now() -> datetime:
    """The real clock, aware, in UTC."""
    return datetime.now(UTC)


def addresses() -> Addresses:
    """The address checks (email-validator, syntax only): the desk's, and the commands' without a desk."""
    return EmailValidatorAddresses()


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
    return TokenProvider(source)  # the cache itself (callable), so a refused token can be forgotten


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
    db: Database,
    clock: Clock = utc_now,
    stop: threading.Event | None = None,
    prepared: PreparedMailbox | None = None,
    export_files: ExportFiles | None = None,
) -> Desk:
    """Wire the real adapters for a configuration and its (migrated) database (`prepared`: the first pass's
    connection, opened ahead; `export_files`: the console's, from mailbot/exports.py)."""
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
    return Desk(
        config=config,
        db=db,
        journal=db.sent_journal(),
        mailbox_factory=mailbox,
        mailer=mailer,
        clock=clock,
        new_message_id=new_message_id,
        templates=load_templates(config.bot.language),
        addresses=addresses(),
        stop=stop,
        read_bounce=bounces.read,
        event_templates={event.id: load_overrides(event.templates_dir) for event in config.events},
        pacer=pacer,
        export_files=export_files,
    )


def sending_desk(config: Config, stop: threading.Event) -> Desk:
    """The desk of `mailbot run`'s sending process (mailbot.sender): the database the parent migrated."""
    return build_desk(config, db=Database(config.database.url), stop=stop)
