"""The desk wired to in-memory fakes of the store, the mailbox and the mailer (no servers, no database)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from mailbot.adapters.addresses import EmailValidatorAddresses
from mailbot.config import Config, parse_config
from mailbot.core.rules.own_mail import MESSAGE_ID_MARK
from mailbot.service import Desk
from mailbot.templates import load_templates
from tests.fakes.mail import FakeFolder, FakeMailbox, FakeMailer
from tests.fakes.store import FakeStore

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
KEYWORD = "Digitalisierung 08.10."
DESK_ADDRESS = "digitalisierung@castrop-rauxel.de"


def config(capacity: int) -> Config:
    """A configuration with one event in the future; the servers (port 9, discard) are never contacted."""
    data = {
        "imap": {"host": "127.0.0.1", "port": 9, "security": "none", "username": "u", "password": "p"},
        "smtp": {"host": "127.0.0.1", "port": 9, "security": "none", "sender": f"Stadt <{DESK_ADDRESS}>"},
        "database": {"url": "sqlite://"},
        "bot": {},
        "events": [
            {
                "id": "digital",
                "title": "Digitalisierung",
                "keyword": KEYWORD,
                "capacity": capacity,
                "starts_at": "2026-10-08T18:00:00+02:00",
            }
        ],
    }
    return parse_config(data, "config.toml", env={})


@dataclass
class World:
    """A desk and the fakes around it."""

    desk: Desk
    store: FakeStore
    folder: FakeFolder
    mailer: FakeMailer
    now: list[datetime]

    def receive(
        self, n: int, subject: str, body: str = "Hallo", *, in_reply_to: str = "", mid: str = ""
    ) -> None:
        """A mail from person n arrives a minute after the previous one."""
        self.now[0] += timedelta(minutes=1)
        extra = f"In-Reply-To: {in_reply_to}\r\nReferences: {in_reply_to}\r\n" if in_reply_to else ""
        raw = (
            f"From: Person {n} <person{n}@example.org>\r\nTo: {DESK_ADDRESS}\r\nSubject: {subject}\r\n"
            f"Message-ID: <{mid or f'm{len(self.folder.messages)}-{n}'}@example.org>\r\n"
            f"Date: Mon, 2 Mar 2026 09:00:00 +0100\r\n{extra}"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
        ).encode()
        self.folder.deliver(raw, self.now[0])

    def run(self) -> None:
        """One pass: read the new mail, send the replies."""
        self.desk.run_once()

    def replies(self, start: int = 0) -> list[tuple[str, str]]:
        """(recipient, X-Mailbot-Status) of the replies sent, from index `start` on."""
        return self.mailer.statuses()[start:]


@pytest.fixture
def world() -> Callable[..., World]:
    """Make a desk over fakes for an event of this capacity."""

    def make(capacity: int = 2) -> World:
        store, folder, mailer, now = FakeStore(), FakeFolder(), FakeMailer(), [T0]
        ids = itertools.count(1)
        cfg = config(capacity)
        desk = Desk(
            config=cfg,
            db=store,  # type: ignore[arg-type]
            mailbox_factory=lambda: FakeMailbox(folder),
            mailer=mailer,
            clock=lambda: now[0],
            new_message_id=lambda: f"<reply{next(ids)}{MESSAGE_ID_MARK}castrop-rauxel.de>",
            templates=load_templates(cfg.bot.language),
            addresses=EmailValidatorAddresses(),  # pure syntax, no I/O: the real one
        )
        with store.transaction() as uow:
            uow.sync_events(cfg.events)
        return World(desk=desk, store=store, folder=folder, mailer=mailer, now=now)

    return make
