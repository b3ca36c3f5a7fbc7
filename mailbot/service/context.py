"""What every use-case of the desk works with: the settings, the ports, the clock and the derived tables."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Protocol
from zoneinfo import ZoneInfo

from mailbot.config import Config
from mailbot.core import chain, replies
from mailbot.core.model import RuleContext
from mailbot.core.pacing import Pacer
from mailbot.ports import Clock, IdFactory, MailboxFactory, Mailer, SentRecord
from mailbot.ports.addresses import Addresses
from mailbot.ports.exports import ExportFiles
from mailbot.ports.store import Store
from mailbot.service.results import FlushReport

if TYPE_CHECKING:
    from mailbot.core.bounce import BounceReport


class BackgroundSender(Protocol):
    """Sends the outbox from another process while the pass goes on (mailbot.sender)."""

    def request(self, leader: bool) -> None:
        """Send what is due now; returns at once."""

    def finish(self, leader: bool) -> FlushReport:
        """Send what is due, wait for it, and report what the pass's sending did."""


class Context:
    """The desk's parts, passed to every use-case function (the `Desk` facade is one)."""

    def __init__(
        self,
        *,
        config: Config,
        db: Store,
        mailbox_factory: MailboxFactory,
        mailer: Mailer,
        clock: Clock,
        new_message_id: IdFactory,
        templates: Mapping[str, str],
        addresses: Addresses,
        stop: threading.Event | None = None,
        read_bounce: Callable[[bytes, RuleContext], BounceReport | None] | None = None,
        event_templates: Mapping[str, Mapping[str, str]] | None = None,
        use_leader_lock: bool = True,
        journal: SentRecord | None = None,
        pacer: Pacer | None = None,
        export_files: ExportFiles | None = None,
    ) -> None:
        self.config = config
        self.addresses = addresses  # the address checks (bootstrap: adapters/addresses.py)
        self.export_files = export_files  # the console's exports (bootstrap: adapters/exports)
        self.pacer = pacer or Pacer(config.smtp.max_per_minute)  # the mailer's, when it paces (bootstrap)
        self.journal = journal  # SQLite: where a sending process records accepted replies (journal.py)
        self.record_to_journal = False  # set in that process: record there, fold into the database per batch
        self.use_leader_lock = use_leader_lock
        self.read_bounce = read_bounce
        self.db = db
        self.mailbox_factory = mailbox_factory
        self.mailer = mailer
        self.clock = clock
        self.new_message_id = new_message_id
        self.stop = stop or threading.Event()
        self.committed: Callable[[], None] | None = None  # called after each batch is committed and flagged
        self.background: BackgroundSender | None = None  # set by `mailbot run`: replies sent beside the pass
        self.seconds_per_mail: float | None = None  # the SMTP server's pace in the last batch sent
        self.tz = ZoneInfo(config.bot.timezone)
        self.keywords = chain.Keywords(config.events)
        self.events = {ev.id: ev for ev in config.events}
        self.rule_context = RuleContext(
            own_addresses=frozenset({config.smtp.sender_address.lower()}),
            own_domain=config.smtp.sender_address.rsplit("@", 1)[1],
        )
        self.reply_settings = replies.ReplySettings(
            sender=config.smtp.sender, timezone=self.tz, language=config.bot.language, templates=templates
        )
        overrides = event_templates or {}
        self.settings = {
            ev.id: replies.ReplySettings(
                sender=config.smtp.sender,
                timezone=self.tz,
                language=config.bot.language,
                templates={**templates, **overrides.get(ev.id, {})},
            )
            for ev in config.events
        }
