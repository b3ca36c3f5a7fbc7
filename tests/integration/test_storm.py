"""The breaker tells a storm from a rush: thousands of distinct citizens are answered at once, a loop or a
flood from one domain pauses sending (with one alert and the reason in `status`), nothing is lost."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from mailbot.bootstrap import build_desk, open_database
from mailbot.cli.render import render_table
from mailbot.config import parse_config
from mailbot.demo.corpus import build_corpus
from mailbot.demo.servers import SmtpSink
from mailbot.service.reports import status_text
from tests.conftest import config_data
from tests.integration.test_intents import mail, statuses
from tests.integration.test_robustness import registration
from tests.servers import Dovecot, ImapAccount

T0 = datetime(2020, 9, 21, 8, 0, tzinfo=UTC)
ADMIN = "it@castrop-rauxel.de"


def run_pass(account: ImapAccount, sink: SmtpSink, tmp_path: Path) -> tuple[int, bool, str]:
    """One in-process pass with the default limits on SQLite: replies sent, whether paused, `status`."""
    data = config_data(account, sink, f"sqlite:///{tmp_path / 'mailbot.db'}", admin_addresses=[ADMIN])
    config = parse_config(data, "<test>", env={})
    desk = build_desk(config, db=open_database(config))
    try:
        _, flush = desk.run_once()
        # `status` wraps long lines at 100 columns with an indent: joined again for the assertions.
        return (
            flush.sent,
            flush.paused,
            status_text(desk.db, config, render_table, color=False).replace("\n  ", " "),
        )
    finally:
        desk.db.dispose()


def test_a_rush_of_3000_distinct_citizens_is_answered_at_full_speed_by_default(
    dovecot_server: Dovecot, imap_account: ImapAccount, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    """3,000 registrations from 3,000 people at the usual providers all get their reply in one pass."""
    mails = build_corpus(registrations=3000, repeats=0, unrelated=0, auto_replies=0)
    dovecot_server.append_many(imap_account.user, [(m.raw, m.internaldate) for m in mails])
    sent, paused, status = run_pass(imap_account, smtp_sink, tmp_path)
    assert (sent, paused) == (3000, False)
    assert len({m.rcpt_tos[0] for m in smtp_sink.messages}) == 3000
    assert "SENDING PAUSED" not in status
    assert (ADMIN, "alert") not in statuses(smtp_sink)


def test_a_loop_of_few_addresses_stops_after_100_repeats(
    dovecot_server: Dovecot, imap_account: ImapAccount, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    """30 addresses writing again and again: 30 first replies and 100 repeats go, then sending pauses with
    the reason in `status` and one alert; the rest waits in the outbox."""
    mails = [
        (mail(n % 30, "Digitalisierung 08.10.", mid=f"loop{n}"), T0 + timedelta(seconds=n))
        for n in range(180)
    ]
    dovecot_server.append_many(imap_account.user, mails)
    sent, paused, status = run_pass(imap_account, smtp_sink, tmp_path)
    assert (sent, paused) == (130, True)
    replies = [s for s in statuses(smtp_sink) if s[0] != ADMIN]
    assert len(replies) == 130
    assert statuses(smtp_sink).count((ADMIN, "alert")) == 1
    assert "SENDING PAUSED since" in status
    assert "storm: 100 of the last hour's 130 replies went to addresses answered already" in status
    row = next(line for line in status.splitlines() if line.startswith("digitalisierung-2020 ")).split()
    assert int(row[5]) == 50  # the "replies pending" column: what waits in the outbox


def test_a_flood_of_distinct_senders_from_one_domain_stops_after_500(
    dovecot_server: Dovecot, imap_account: ImapAccount, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    """600 distinct senders of one domain (forged, say): 500 replies go, then sending pauses naming it."""
    dovecot_server.append_many(
        imap_account.user, [(registration(n), T0 + timedelta(seconds=n)) for n in range(600)]
    )
    sent, paused, status = run_pass(imap_account, smtp_sink, tmp_path)
    assert (sent, paused) == (500, True)
    assert "storm: 500 of the last hour's 500 replies went to one domain, example.org" in status
    assert statuses(smtp_sink).count((ADMIN, "alert")) == 1
