"""The desk end to end on real servers: Dovecot, an aiosmtpd peer, SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from mailbot.cli import cli
from mailbot.config import load_config
from mailbot.demo.corpus import CorpusMail, build_corpus
from mailbot.demo.servers import SmtpSink, free_port
from tests.conftest import config_data, toml_text
from tests.servers import Dovecot, ImapAccount

T0 = datetime(2020, 9, 21, 8, 0, tzinfo=UTC)


def invoke(config: Path, *args: str) -> tuple[int, str, str]:
    """Run the CLI in-process; returns (exit code, stdout, stderr)."""
    result = CliRunner().invoke(cli, ["--config", str(config), *args], obj={})
    return result.exit_code, result.stdout, result.stderr


def deliver(server: Dovecot, account: ImapAccount, mails: list[CorpusMail]) -> None:
    """Put the corpus into the account's INBOX with its INTERNALDATEs."""
    server.append_many(account.user, [(m.raw, m.internaldate) for m in mails])


def mailbox_state(server: Dovecot, account: ImapAccount, folder: str = "INBOX") -> dict[str, tuple[str, ...]]:
    """Message-ID -> flags of every message in the folder (read with PEEK, changing nothing)."""
    client = server.client(account.user)
    try:
        client.select_folder(folder, readonly=True)
        uids = client.search(["ALL"])
        data = client.fetch(uids, ["FLAGS", "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"]) if uids else {}
    finally:
        client.logout()
    state = {}
    for item in data.values():
        header = item[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"].decode().strip()
        mid = header.split(":", 1)[1].strip() if ":" in header else ""
        # \Recent belongs to the IMAP session that saw the mail first, not to the message.
        state[mid] = tuple(sorted(f.decode() for f in item[b"FLAGS"] if f != b"\\Recent"))
    return state


def message_id(mail: CorpusMail) -> str:
    """The Message-ID header of a corpus mail."""
    for line in mail.raw.split(b"\r\n"):
        if line.lower().startswith(b"message-id:"):
            return line.split(b":", 1)[1].strip().decode()
    raise AssertionError("corpus mail without Message-ID")


def read_csv(data: bytes) -> list[dict[str, str]]:
    """Parse the export as Excel would read it (BOM, semicolons)."""
    assert data.startswith(b"\xef\xbb\xbf"), "export must start with a UTF-8 BOM for Excel"
    return list(csv.DictReader(io.StringIO(data[3:].decode("utf-8")), delimiter=";"))


@pytest.fixture
def scenario() -> list[CorpusMail]:
    """80 registrations in varied styles, 3 repeat senders, 5 unrelated mails (one an out-of-office)."""
    return build_corpus(registrations=80, repeats=3, unrelated=4, auto_replies=1)


def test_scenario_seats_waitlist_replies_and_csv(
    dovecot_server: Dovecot,
    imap_account: ImapAccount,
    smtp_sink: SmtpSink,
    config_file: Path,
    scenario: list[CorpusMail],
) -> None:
    """75 confirmed, 5 waitlisted by arrival; 83 right replies; others untouched; CSV right; rerun idle."""
    deliver(dovecot_server, imap_account, scenario)
    before = mailbox_state(dovecot_server, imap_account)

    code, out, err = invoke(config_file, "run", "--once")
    assert code == 0, err
    assert "***@" in err  # one log line per message, addresses masked
    assert not [m.sender for m in scenario if m.sender.lower() in err.lower()], "full address in the log"

    registrations = [m for m in scenario if m.kind == "registration"]
    repeats = [m for m in scenario if m.kind == "repeat"]
    others = [m for m in scenario if m.kind not in ("registration", "repeat")]
    assert (len(registrations), len(repeats), len(others)) == (80, 3, 5)

    # Replies: exactly one per keyword mail, to its sender, with the right status.
    sent = smtp_sink.messages
    assert len(sent) == 83
    by_recipient: dict[str, list[str]] = {}
    for mail in sent:
        msg = mail.message()
        assert mail.rcpt_tos == (msg["To"].addresses[0].addr_spec,)
        by_recipient.setdefault(mail.rcpt_tos[0].lower(), []).append(str(msg["X-Mailbot-Status"]))
        assert msg["Auto-Submitted"] == "auto-replied"
        assert msg["X-Auto-Response-Suppress"] == "All"
        assert str(msg["Message-ID"]).endswith(".mailbot@castrop-rauxel.de>")
        assert msg["In-Reply-To"]
    expected_order = sorted(registrations, key=lambda m: m.internaldate)
    for rank, mail in enumerate(expected_order, start=1):
        want = "confirmed" if rank <= 75 else "waitlisted"
        assert by_recipient[mail.sender.lower()][0] == want, (rank, mail.sender)
    for mail in repeats:
        assert by_recipient[mail.sender.lower()][-1] == "duplicate"
    statuses = [str(m.message()["X-Mailbot-Status"]) for m in sent]
    assert (statuses.count("confirmed"), statuses.count("waitlisted"), statuses.count("duplicate")) == (
        75,
        5,
        3,
    )
    assert not {m.sender.lower() for m in others} & set(by_recipient)

    # The mailbox: registration mails marked, everything else exactly as before (not seen, not moved).
    after = mailbox_state(dovecot_server, imap_account)
    assert set(after) == set(before)
    for mail in others:
        assert after[message_id(mail)] == before[message_id(mail)] == ()
    for mail in registrations + repeats:
        assert after[message_id(mail)] == ("$MailbotProcessed",)

    # The CSV: arrival order, positions 1..80 without gaps, INTERNALDATE as received_at, replied_at set.
    code, _, err = invoke(config_file, "export", "-o", str(config_file.parent / "out.csv"))
    assert code == 0, err
    rows = read_csv((config_file.parent / "out.csv").read_bytes())
    assert [r["arrival_no"] for r in rows] == [str(i) for i in range(1, 81)]
    assert [r["email"].lower() for r in rows] == [m.sender.lower() for m in expected_order]
    assert [r["status"] for r in rows] == ["confirmed"] * 75 + ["waitlisted"] * 5
    assert {"event_id", "arrival_no", "status", "name", "email", "received_at", "replied_at"} <= set(rows[0])
    tz_rows = [datetime.fromisoformat(r["received_at"]) for r in rows]
    assert tz_rows == [m.internaldate for m in expected_order]
    assert all(datetime.fromisoformat(r["replied_at"]).tzinfo is not None for r in rows)

    # A second pass changes nothing and sends nothing.
    code, out, err = invoke(config_file, "run", "--once")
    assert code == 0, err
    assert len(smtp_sink.messages) == 83
    assert "processed 0 message(s)" in out
    assert mailbox_state(dovecot_server, imap_account) == after


def test_processed_folder_moves_only_registrations(
    dovecot_server: Dovecot,
    imap_account: ImapAccount,
    config_file: Path,
) -> None:
    """With processed_folder set, registration mails move there; other mail stays in INBOX unflagged."""
    mails = build_corpus(registrations=6, repeats=1, unrelated=3, auto_replies=2)
    deliver(dovecot_server, imap_account, mails)
    text = config_file.read_text().replace('folder = "INBOX"', "")
    text = text.replace("[imap]\n", '[imap]\nprocessed_folder = "Anmeldungen"\n')
    config_file.write_text(text)

    code, _, err = invoke(config_file, "run", "--once")
    assert code == 0, err
    inbox = mailbox_state(dovecot_server, imap_account)
    moved = mailbox_state(dovecot_server, imap_account, "Anmeldungen")
    keyword_mails = {message_id(m) for m in mails if m.kind in ("registration", "repeat")}
    assert set(moved) == keyword_mails
    assert set(inbox) == {message_id(m) for m in mails} - keyword_mails
    assert all(flags == () for flags in inbox.values())


def test_reply_committed_but_not_sent_goes_out_next_pass(
    imap_account: ImapAccount,
    smtp_sink: SmtpSink,
    config_file: Path,
    dovecot_server: Dovecot,
) -> None:
    """A crash between commit and send loses nothing: the queued replies go out on the next pass, once."""
    from mailbot.bootstrap import build_desk  # noqa: PLC0415

    deliver(
        dovecot_server, imap_account, build_corpus(registrations=5, repeats=0, unrelated=0, auto_replies=0)
    )
    config = load_config(config_file)
    build_desk(config).poll_once()  # the pass dies before flushing the outbox
    assert smtp_sink.messages == []

    code, _, err = invoke(config_file, "run", "--once")
    assert code == 0, err
    assert len(smtp_sink.messages) == 5
    invoke(config_file, "run", "--once")
    assert len(smtp_sink.messages) == 5


def test_smtp_temporary_failure_defers_and_permanent_failure_is_shown(
    imap_account: ImapAccount,
    smtp_sink: SmtpSink,
    config_file: Path,
    dovecot_server: Dovecot,
) -> None:
    """4xx keeps replies queued for a later retry; 5xx marks them failed, visible in `status`."""
    from mailbot.bootstrap import build_desk  # noqa: PLC0415

    deliver(
        dovecot_server, imap_account, build_corpus(registrations=2, repeats=0, unrelated=0, auto_replies=0)
    )
    config = load_config(config_file)
    now = [datetime.now(UTC)]
    desk = build_desk(config, clock=lambda: now[0])
    smtp_sink.fail_with("451 4.3.0 try again later")
    _, flush = desk.run_once()
    assert (flush.sent, flush.deferred, flush.failed) == (0, 2, 0)
    assert desk.flush_outbox().sent == 0  # not due yet: backoff

    smtp_sink.fail_with(None)
    now[0] += timedelta(minutes=5)
    assert desk.flush_outbox().sent == 2
    assert len(smtp_sink.messages) == 2

    deliver(
        dovecot_server,
        imap_account,
        [build_corpus(registrations=3, repeats=0, unrelated=0, auto_replies=0, seed=99)[2]],
    )
    smtp_sink.fail_with("550 5.1.1 mailbox unavailable")
    _, flush = desk.run_once()
    assert flush.failed == 1
    code, out, _ = invoke(config_file, "status")
    assert code == 0
    assert re.search(r"^digitalisierung-2020 +75 +3 +72 +0 +0 +1 +0$", out, re.MULTILINE), out  # 1 failed
    assert "1 reply(ies) failed permanently" in out


def test_unreachable_imap_server_is_one_line_and_nonzero(tmp_path: Path, smtp_sink: SmtpSink) -> None:
    """`run --once` against a closed port prints one clear line, no traceback, and exits non-zero."""
    account = ImapAccount(host="127.0.0.1", port=free_port(), user="nobody", password="x")
    path = tmp_path / "config.toml"
    path.write_text(toml_text(config_data(account, smtp_sink, f"sqlite:///{tmp_path / 'm.db'}")))
    code, out, err = invoke(path, "run", "--once")
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("mailbot: IMAP 127.0.0.1:")
    assert "Traceback" not in err + out


def test_bad_config_exits_2_with_one_line(tmp_path: Path) -> None:
    """A config with a missing key exits 2 with exactly one stderr line naming file and key."""
    path = tmp_path / "config.toml"
    path.write_text('[imap]\nhost = "x"\n')
    for command in (["run", "--once"], ["status"], ["export"]):
        code, out, err = invoke(path, *command)
        assert code == 2
        assert err.strip().splitlines() == [f"{path}: [imap] port: missing"]
        assert "Traceback" not in out + err
