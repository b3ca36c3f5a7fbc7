"""No part of any mail holds the access data before send-access or send_access_at; later ones all do."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from mailbot.bootstrap import build_desk
from mailbot.config import load_config
from mailbot.demo.servers import SmtpSink
from tests.integration.test_desk import invoke
from tests.integration.test_intents import mail
from tests.servers import Dovecot, ImapAccount

T0 = datetime(2020, 9, 21, 8, 0, tzinfo=UTC)
SEND_ACCESS_AT = datetime(2099, 10, 1, 8, 0, tzinfo=UTC)
# Each line of the access data is a secret of its own; none may appear anywhere (the .ics folds long lines).
SECRETS = ("zoom.example.org/j/987654321", "Meeting-ID 987 654 321", "Kenncode XQ7SECRET42")
ACCESS = "\n".join(SECRETS)
EVENT = "digitalisierung-2020"
KEYWORD = "Digitalisierung 08.10."


def parts(raw: bytes) -> list[tuple[str, str]]:
    """(content type, text) of every leaf part, transfer encoding undone; the .ics unfolded and unescaped."""
    found = []
    for part in message_from_bytes(raw, policy=policy.default).walk():
        if part.is_multipart():
            continue
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        text = payload.decode(part.get_content_charset() or "utf-8", "replace")
        if part.get_content_type() == "text/calendar":
            text = re.sub(r"\r\n[ \t]", "", text)  # RFC 5545 §3.1 unfolding
            text = text.replace("\\n", "\n").replace("\\,", ",").replace("\\;", ";")
        found.append((part.get_content_type(), text))
    return found


def leaks(raw: bytes) -> list[str]:
    """The access secrets found anywhere in one mail: its raw bytes or any decoded part."""
    texts = [raw.decode("utf-8", "replace"), *(text for _, text in parts(raw))]
    return [s for s in SECRETS if any(s in text for text in texts)]


def carries_all(raw: bytes) -> bool:
    """Whether the text part and the .ics both carry every secret."""
    found = parts(raw)
    texts = [t for kind, t in found if kind == "text/plain"]
    calendars = [t for kind, t in found if kind == "text/calendar"]
    return bool(texts and calendars) and all(s in texts[0] and s in calendars[0] for s in SECRETS)


@pytest.fixture
def access_config(config_file: Path) -> Path:
    """The seed event in 2099 with 3 seats and access data (no reminder: it would send them by itself)."""
    text = (
        config_file.read_text().replace("2020-10-08T", "2099-10-08T").replace("capacity = 75", "capacity = 3")
    )
    text += 'access_info = """' + ACCESS + '"""\nlocation = "Online (Zoom)"\n'
    config_file.write_text(text)
    return config_file


@pytest.mark.parametrize("trigger", ["send-access", "send_access_at"])
def test_access_data_in_no_mail_before_they_are_sent(
    dovecot_server: Dovecot,
    imap_account: ImapAccount,
    smtp_sink: SmtpSink,
    access_config: Path,
    trigger: str,
) -> None:
    """Confirm, waitlist, duplicate, status, cancel, promotion: no part of any mail holds access data; after
    send-access (or send_access_at) every access mail, later confirmation and promotion carries them."""
    config = access_config
    if trigger == "send_access_at":
        config.write_text(config.read_text() + f'send_access_at = "{SEND_ACCESS_AT.isoformat()}"\n')
    before_access = SEND_ACCESS_AT - timedelta(days=1)
    desk = build_desk(load_config(config, {}), clock=lambda: before_access)

    def ours(n: int) -> str:
        """The Message-ID of our first mail to person n (a cancellation answers it: proof of the address)."""
        return next(
            str(m.message()["Message-ID"])
            for m in smtp_sink.messages
            if m.rcpt_tos[0] == f"person{n}@example.org"
        )

    def deliver(*mails: tuple[int, str, str], answering: bool = False) -> None:
        when = T0 + timedelta(minutes=len(smtp_sink.messages) + 1)
        dovecot_server.append_many(
            imap_account.user,
            [
                (
                    mail(n, subject, mid=mid, in_reply_to=ours(n) if answering else ""),
                    when + timedelta(seconds=i),
                )
                for i, (n, subject, mid) in enumerate(mails)
            ],
        )

    # Before: 3 confirmed, 2 waitlisted, a duplicate, two status queries, a cancellation with a promotion.
    deliver(*[(n, KEYWORD, f"r{n}") for n in range(1, 6)])
    desk.run_once()
    deliver((1, KEYWORD, "d1"), (2, f"Status {KEYWORD}", "s2"), (5, f"Status {KEYWORD}", "s5"))
    desk.run_once()
    deliver((3, f"Abmeldung {KEYWORD}", "c3"), answering=True)
    desk.run_once()
    before = [m.data for m in smtp_sink.messages]
    kinds = [str(m.message()["X-Mailbot-Status"]) for m in smtp_sink.messages]
    assert sorted(kinds) == sorted(
        ["confirmed"] * 3 + ["waitlisted"] * 2 + ["duplicate", "status", "status", "cancelled", "promoted"]
    )
    assert [leaks(raw) for raw in before] == [[] for _ in before]
    assert (
        sum("text/calendar" in raw.decode("utf-8", "replace") for raw in before) == 4
    )  # the .ics went along

    # The access data go out.
    start = len(smtp_sink.messages)
    if trigger == "send-access":
        code, _, err = invoke(config, "send-access", EVENT, "--per-minute", "0")
        assert code == 0, err
        desk_after = desk
    else:
        after_access = SEND_ACCESS_AT + timedelta(hours=1)
        desk_after = build_desk(load_config(config, {}), clock=lambda: after_access)
        desk_after.run_once()
    access = smtp_sink.messages[start:]
    assert sorted(m.rcpt_tos[0] for m in access) == [f"person{n}@example.org" for n in (1, 2, 4)]
    assert all(carries_all(m.data) for m in access)

    # After: person 1 cancels (person 5 moves up), person 2 cancels (a seat is free), a newcomer by phone
    # with an address is confirmed: each seat-giving mail now carries the access data in its text and .ics.
    start = len(smtp_sink.messages)
    deliver((1, f"Abmeldung {KEYWORD}", "c1"), (2, f"Abmeldung {KEYWORD}", "c2"), answering=True)
    desk_after.run_once()
    code, _, err = invoke(config, "add", EVENT, "--name", "Neu", "--email", "person6@example.org")
    assert code == 0, err
    after = [(str(m.message()["X-Mailbot-Status"]), m.data) for m in smtp_sink.messages[start:]]
    assert sorted(kind for kind, _ in after) == ["cancelled", "cancelled", "confirmed", "promoted"]
    assert all(carries_all(raw) for kind, raw in after if kind in ("confirmed", "promoted"))
    assert all(leaks(raw) == [] for kind, raw in after if kind == "cancelled")
