"""The one composition root: Config -> adapters -> Desk. Tests and the demo pass their own pieces."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime

from mailbot.adapters import bounces
from mailbot.adapters.db import Database
from mailbot.adapters.imap import ImapMailbox
from mailbot.adapters.smtp import SmtpMailer
from mailbot.config import Config
from mailbot.core.rules.own_mail import MESSAGE_ID_MARK
from mailbot.ports import Clock, Mailbox
from mailbot.service import Desk
from mailbot.templates import load_overrides, load_templates


def utc_now() -> datetime:
    """The real clock, aware, in UTC."""
    return datetime.now(UTC)


def open_database(config: Config) -> Database:
    """The configured database, migrated to the newest schema, with the configured events in it."""
    db = Database(config.database.url)
    db.migrate()
    with db.transaction() as tx:
        tx.sync_events(config.events)
    return db


def build_desk(
    config: Config, *, db: Database | None = None, clock: Clock = utc_now, stop: threading.Event | None = None
) -> Desk:
    """Wire the real adapters for a configuration."""
    imap, smtp = config.imap, config.smtp

    def mailbox() -> Mailbox:
        return ImapMailbox(
            host=imap.host,
            port=imap.port,
            security=imap.security,
            username=imap.username,
            password=imap.password,
            timeout=imap.timeout,
            cafile=imap.ca_file,
        )

    domain = smtp.sender_address.rsplit("@", 1)[1]

    def new_message_id() -> str:
        return f"<{uuid.uuid4().hex}{MESSAGE_ID_MARK}{domain}>"

    mailer = SmtpMailer(
        host=smtp.host,
        port=smtp.port,
        security=smtp.security,
        username=smtp.username,
        password=smtp.password,
        timeout=smtp.timeout,
        cafile=smtp.ca_file,
    )
    return Desk(
        config=config,
        db=db or open_database(config),
        mailbox_factory=mailbox,
        mailer=mailer,
        clock=clock,
        new_message_id=new_message_id,
        templates=load_templates(config.bot.language),
        stop=stop,
        read_bounce=bounces.read,
        event_templates={event.id: load_overrides(event.templates_dir) for event in config.events},
    )
