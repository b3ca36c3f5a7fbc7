"""The whole event lifecycle on real servers: mail and phone registrations, cancellations, promotions,
capacity raised, access data (crash in the middle, then resumed), reminder with a frozen clock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import func, select

from mailbot.adapters.db import Database, OutboxRow
from mailbot.bootstrap import build_desk
from mailbot.config import load_config
from mailbot.demo.servers import SmtpSink
from tests.integration.test_desk import invoke, read_csv
from tests.integration.test_intents import mail, set_capacity, statuses
from tests.servers import Dovecot, ImapAccount

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2020, 9, 21, 8, 0, tzinfo=UTC)
STARTS = datetime(2099, 10, 8, 16, 0, tzinfo=UTC)
ACCESS = "Zoom: https://zoom.example.org/j/123456789\nMeeting-ID: 123 456 789\nKenncode: 0810"


@pytest.fixture
def lifecycle_config(config_file: Path) -> Path:
    """The seed event in 2099 with 5 seats, access data and a reminder two hours before."""
    text = config_file.read_text().replace("2020-10-08T", "2099-10-08T")
    text = text.replace("capacity = 75", "capacity = 5")
    text += 'access_info = """' + ACCESS + '"""\nreminder_before = "PT2H"\nlocation = "Online (Zoom)"\n'
    config_file.write_text(text)
    return config_file


def attachment_types(msg: EmailMessage) -> list[str]:
    """Content types of the attachments of a mail."""
    return [part.get_content_type() for part in msg.iter_attachments()]


def wait_for(predicate: object, timeout: float = 30.0) -> None:
    """Poll until predicate() is true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def test_whole_lifecycle(
    dovecot_server: Dovecot, imap_account: ImapAccount, smtp_sink: SmtpSink, lifecycle_config: Path
) -> None:
    """Every mail's X-Mailbot-Status and the final CSV over a whole event lifecycle."""
    config = lifecycle_config
    # 1. Eight registrations by mail for five seats, and a phone registration in between.
    dovecot_server.append_many(
        imap_account.user,
        [(mail(i, "Digitalisierung 08.10."), T0 + timedelta(minutes=i)) for i in range(1, 7)],
    )
    assert invoke(config, "run", "--once")[0] == 0
    code, out, err = invoke(
        config, "add", "digitalisierung-2020", "--name", "Erna Oma", "--phone", "02305 123456"
    )
    assert code == 0, err
    assert "waitlisted" in out
    dovecot_server.append_many(
        imap_account.user,
        [(mail(i, "Digitalisierung 08.10."), T0 + timedelta(minutes=10 + i)) for i in (7, 8)],
    )
    assert invoke(config, "run", "--once")[0] == 0
    assert statuses(smtp_sink) == [(f"person{i}@example.org", "confirmed") for i in range(1, 6)] + [
        (f"person{i}@example.org", "waitlisted") for i in (6, 7, 8)
    ]
    assert attachment_types(smtp_sink.messages[0].message()) == ["text/calendar"]
    assert attachment_types(smtp_sink.messages[5].message()) == []

    # 2. Three cancellations by mail, each answering our confirmation (proof of the address): persons 6,
    #    then Erna (no address: no mail), then 7 move up.
    ours = {m.rcpt_tos[0]: str(m.message()["Message-ID"]) for m in smtp_sink.messages}
    dovecot_server.append_many(
        imap_account.user,
        [
            (
                mail(
                    i,
                    "Abmeldung Digitalisierung 08.10.",
                    mid=f"c{i}",
                    in_reply_to=ours[f"person{i}@example.org"],
                ),
                T0 + timedelta(hours=1, minutes=i),
            )
            for i in (1, 2, 3)
        ],
    )
    assert invoke(config, "run", "--once")[0] == 0
    assert sorted(statuses(smtp_sink, 8)) == sorted(
        [(f"person{i}@example.org", "cancelled") for i in (1, 2, 3)]
        + [("person6@example.org", "promoted"), ("person7@example.org", "promoted")]
    )

    # 3. One cancellation by an admin (quietly): person 8 moves up.
    code, out, err = invoke(
        config, "cancel", "digitalisierung-2020", "--email", "person4@example.org", "--quiet"
    )
    assert code == 0, err
    assert statuses(smtp_sink, 13) == [("person8@example.org", "promoted")]

    # 4. Capacity raised to 6: nobody waits any more, so nothing happens; then a newcomer is confirmed.
    set_capacity(config, 6)
    dovecot_server.append_many(
        imap_account.user, [(mail(9, "Digitalisierung 08.10."), T0 + timedelta(hours=2))]
    )
    assert invoke(config, "run", "--once")[0] == 0
    assert statuses(smtp_sink, 14) == [("person9@example.org", "confirmed")]

    # 5. Access data: the sender is killed after two mails; the second run serves only the rest.
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mailbot",
            "--config",
            str(config),
            "send-access",
            "digitalisierung-2020",
            "--per-minute",
            "60",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        cwd=config.parent,
    )
    try:
        wait_for(lambda: rows_with(config, "access") >= 2)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    access_before = [m for m in smtp_sink.messages if m.message()["X-Mailbot-Status"] == "access"]
    code, out, err = invoke(config, "send-access", "digitalisierung-2020", "--per-minute", "0")
    assert code == 0, err
    access = [m.rcpt_tos[0] for m in smtp_sink.messages if m.message()["X-Mailbot-Status"] == "access"]
    confirmed_now = {
        "person5@example.org",
        "person6@example.org",
        "person7@example.org",
        "person8@example.org",
        "person9@example.org",
    }
    assert sorted(access) == sorted(confirmed_now)  # each exactly once; Erna has no address
    assert len(access_before) >= 2
    body = smtp_sink.messages[-1].message().get_body(("plain",))
    assert body is not None
    assert "Kenncode: 0810" in body.get_content()

    # 6. The reminder, with a frozen clock two hours before: once each, with the access data and an .ics.
    frozen = STARTS - timedelta(hours=1, minutes=30)
    desk = build_desk(load_config(config, {}), clock=lambda: frozen)
    before = len(smtp_sink.messages)
    desk.run_once()
    desk.run_once()
    reminders = smtp_sink.messages[before:]
    assert sorted(m.rcpt_tos[0] for m in reminders) == sorted(confirmed_now)
    assert {str(m.message()["X-Mailbot-Status"]) for m in reminders} == {"reminder"}
    first = reminders[0].message()
    assert attachment_types(first) == ["text/calendar"]
    text = first.get_body(("plain",))
    assert text is not None
    assert "Kenncode: 0810" in text.get_content()

    # 7. The final CSV: every registration in arrival order with its history.
    rows = read_csv(invoke(config, "export")[1].encode())
    assert [(r["arrival_no"], r["email"] or r["phone"], r["status"], r["channel"]) for r in rows] == [
        ("1", "person1@example.org", "cancelled", "email"),
        ("2", "person2@example.org", "cancelled", "email"),
        ("3", "person3@example.org", "cancelled", "email"),
        ("4", "person4@example.org", "cancelled", "email"),
        ("5", "person5@example.org", "confirmed", "email"),
        ("6", "person6@example.org", "confirmed", "email"),
        ("7", "02305 123456", "confirmed", "phone"),
        ("8", "person7@example.org", "confirmed", "email"),
        ("9", "person8@example.org", "confirmed", "email"),
        ("10", "person9@example.org", "confirmed", "email"),
    ]
    assert all(r["cancelled_at"] for r in rows[:4])
    assert [bool(r["promoted_at"]) for r in rows[4:]] == [False, True, True, True, True, False]
    assert rows[6]["reply_status"] == "none"
    assert {r["reply_status"] for r in rows if r["email"]} == {"sent"}

    # 8. The audit trail names who changed what.
    code, out, _ = invoke(config, "history", "digitalisierung-2020", "--email", "person4@example.org")
    assert code == 0
    assert "registered: - -> confirmed" in out
    assert "cancelled: confirmed -> cancelled  by admin (mailbot cancel)" in out


def rows_with(config: Path, kind: str) -> int:
    """How many replies of a kind the SMTP server has accepted, per the database."""
    db = Database(load_config(config, {}).database.url)
    try:
        with db.transaction() as tx:
            return int(
                tx.session.scalar(
                    select(func.count()).where(OutboxRow.kind == kind, OutboxRow.sent_at.is_not(None))
                )
                or 0
            )
    finally:
        db.dispose()
