"""Outages and slow servers: timeouts, cuts mid-pass, SMTP 4xx/5xx, backoff, the watchdog, health, SIGTERM."""

from __future__ import annotations

import itertools
import logging
import re
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from mailbot.adapters.db import Database
from mailbot.bootstrap import build_desk
from mailbot.cli import cli
from mailbot.cli.health import health
from mailbot.config import load_config
from mailbot.demo.corpus import CorpusMail, build_corpus
from mailbot.demo.servers import SmtpSink
from mailbot.scheduler import retry_delay, run_forever
from mailbot.service import BODY_BATCH, LAST_POLL
from mailbot.service.watchdog import Watchdog, check_health
from tests.conftest import config_data, toml_text
from tests.integration.test_desk import deliver, invoke, message_id, read_csv
from tests.integration.test_processes import mailbot
from tests.proxy import Proxy
from tests.servers import Dovecot, ImapAccount

ADMIN = "it@castrop-rauxel.de"
T0 = datetime(2020, 9, 22, 9, 0, tzinfo=UTC)  # after the corpus mails arrived, before the event


@dataclass
class Servers:
    """The test's Dovecot mailbox, SMTP sink and temp dir, with proxies in front on demand."""

    dovecot: Dovecot
    account: ImapAccount
    sink: SmtpSink
    tmp: Path
    proxies: list[Proxy] = field(default_factory=list)

    def imap_proxy(self, source: str | None = None) -> Proxy:
        """A proxy in front of Dovecot (`source`: the client address Dovecot sees)."""
        return self._proxy(self.dovecot.host, self.dovecot.port, source)

    def smtp_proxy(self) -> Proxy:
        """A proxy in front of the SMTP sink."""
        return self._proxy(self.sink.host, self.sink.port, None)

    def _proxy(self, host: str, port: int, source: str | None) -> Proxy:
        proxy = Proxy(host, port, source=source).start()
        self.proxies.append(proxy)
        return proxy

    def deliver(self, mails: list[CorpusMail]) -> None:
        """Put mails into the INBOX with their INTERNALDATEs."""
        deliver(self.dovecot, self.account, mails)

    def config(
        self,
        url: str | None = None,
        *,
        imap: Proxy | None = None,
        smtp: Proxy | None = None,
        imap_extra: dict[str, object] | None = None,
        smtp_extra: dict[str, object] | None = None,
        name: str = "config.toml",
        **bot: object,
    ) -> Path:
        """A config.toml for these servers (through the given proxies); SQLite in the temp dir by default."""
        admins = bot.pop("admin_addresses", None)
        data = config_data(self.account, self.sink, url or self.sqlite, **bot)
        imap_table, smtp_table = data["imap"], data["smtp"]
        assert isinstance(imap_table, dict)
        assert isinstance(smtp_table, dict)
        if imap is not None:
            imap_table.update(host=imap.host, port=imap.port)
        if smtp is not None:
            smtp_table.update(host=smtp.host, port=smtp.port)
        imap_table.update(imap_extra or {})
        smtp_table.update(smtp_extra or {})
        path = self.tmp / name
        rendered = toml_text(data)
        if isinstance(admins, list):  # toml_text renders scalars only
            listed = ", ".join(f'"{a}"' for a in admins)
            rendered = rendered.replace("[bot]\n", f"[bot]\nadmin_addresses = [{listed}]\n", 1)
        path.write_text(rendered, encoding="utf-8")
        return path

    @property
    def sqlite(self) -> str:
        """The URL of an SQLite database in the temp dir."""
        return f"sqlite:///{self.tmp / 'mailbot.db'}"


@pytest.fixture
def servers(
    dovecot_server: Dovecot, imap_account: ImapAccount, smtp_sink: SmtpSink, tmp_path: Path
) -> Iterator[Servers]:
    """The real servers of this test; proxies started through it are stopped afterwards."""
    bundle = Servers(dovecot_server, imap_account, smtp_sink, tmp_path)
    yield bundle
    for proxy in bundle.proxies:
        proxy.stop()


@pytest.fixture
def health_command() -> Iterator[None]:
    """`mailbot health` on the CLI group (cli/app.py registers it; kept in case a test removed it)."""
    added = "health" not in cli.commands
    if added:
        cli.add_command(health)
    yield
    if added:
        cli.commands.pop("health", None)


def query(url: str, sql: str) -> list[tuple[object, ...]]:
    """Rows of a read-only query, straight from the database (what is really committed)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(sql))]
    finally:
        engine.dispose()


def ledger_count(url: str) -> int:
    """How many messages the ledger holds."""
    return int(str(query(url, "SELECT count(*) FROM ledger")[0][0]))


def keyword_mails(mails: list[CorpusMail]) -> list[CorpusMail]:
    """The mails that deserve a reply."""
    return [m for m in mails if m.kind in ("registration", "repeat")]


def assert_each_answered_once(sink: SmtpSink, mails: list[CorpusMail]) -> None:
    """Exactly one reply per keyword mail (by In-Reply-To), none to anything else, no duplicates."""
    answered = [
        str(m.message()["In-Reply-To"]).strip()
        for m in sink.messages
        if m.message()["X-Mailbot-Status"] != "alert"
    ]
    assert sorted(answered) == sorted(message_id(m) for m in keyword_mails(mails))


def alerts(sink: SmtpSink) -> list[str]:
    """Subjects of the alert mails the sink received, in order."""
    return [str(m.message()["Subject"]) for m in sink.messages if m.message()["X-Mailbot-Status"] == "alert"]


# --- timeouts: a server that accepts but never answers ------------------------------------------------------


def last_line(err: str) -> str:
    """The last stderr line of a command (the log lines come before it)."""
    return err.strip().splitlines()[-1]


def test_stalled_imap_server_ends_the_pass_within_its_timeout(servers: Servers) -> None:
    """IMAP accepting but silent: `run --once` exits 1 after ~[imap] timeout, one line naming the cause."""
    proxy = servers.imap_proxy()
    config = servers.config(imap=proxy, imap_extra={"timeout": 1})
    proxy.stall()
    started = time.monotonic()
    code, _, err = invoke(config, "run", "--once")
    elapsed = time.monotonic() - started
    assert code == 1
    where = f"IMAP {proxy.host}:{proxy.port}"
    assert err == f"mailbot: {where}: connect: timed out (no answer within [imap] timeout)\n"
    assert 1.0 <= elapsed < 3.0, elapsed


def test_stalled_smtp_server_keeps_replies_queued_and_sends_them_later(servers: Servers) -> None:
    """SMTP accepting but silent: booked, exit 1 after ~[smtp] timeout; a later pass sends each reply once."""
    mails = build_corpus(registrations=3, repeats=0, unrelated=0, auto_replies=0)
    servers.deliver(mails)
    proxy = servers.smtp_proxy()
    config = servers.config(smtp=proxy, smtp_extra={"timeout": 1})
    proxy.stall()
    started = time.monotonic()
    code, out, err = invoke(config, "run", "--once")
    elapsed = time.monotonic() - started
    assert code == 1
    assert "processed 3 message(s)" in out
    where = f"SMTP {proxy.host}:{proxy.port}"
    assert last_line(err) == f"mailbot: replies not sent: {where}: Timed out waiting for server ready message"
    assert 1.0 <= elapsed < 3.0, elapsed
    pending = query(servers.sqlite, "SELECT count(*) FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL")
    assert pending[0][0] == 3

    proxy.forward()
    desk = build_desk(load_config(config, {}), clock=lambda: datetime.now(UTC) + timedelta(hours=1))
    _, flush = desk.run_once()  # an hour later: past the outbox's backoff
    assert (flush.sent, flush.error) == (3, "")
    assert_each_answered_once(servers.sink, mails)


# --- IMAP down, restarting or cut in the middle of a pass ---------------------------------------------------


def test_imap_refused_or_login_refused_end_the_pass_with_one_line(servers: Servers) -> None:
    """IMAP down (connection refused) or a wrong password: exit 1, one line naming server, step and cause."""
    # The wrong login comes from 127.0.0.9, so Dovecot's auth penalty doesn't slow down the other tests.
    proxy = servers.imap_proxy(source="127.0.0.9")
    where = f"IMAP {proxy.host}:{proxy.port}"
    config = servers.config(imap=proxy)
    proxy.refuse()
    code, _, err = invoke(config, "run", "--once")
    assert (code, err) == (1, f"mailbot: {where}: connect: [Errno 111] Connection refused\n")

    proxy.forward()
    config = servers.config(imap=proxy, imap_extra={"password": "wrong"})
    code, _, err = invoke(config, "run", "--once")
    assert (code, err) == (1, f"mailbot: {where}: login: [AUTHENTICATIONFAILED] Authentication failed.\n")
    assert ledger_count(servers.sqlite) == 0


@pytest.mark.parametrize(
    ("db_url", "how"),
    [("sqlite", "cut"), ("postgresql", "cut"), ("sqlite", "stall")],  # a stall looks the same to the database
    indirect=["db_url"],
)
def test_connection_lost_mid_pass_keeps_whole_batches_and_a_later_pass_completes(
    servers: Servers, db_url: str, how: str
) -> None:
    """IMAP reset or stalled mid-FETCH: the pass fails cleanly with whole batches committed (and their
    replies sent); the next pass does the rest: every mail once, every reply once, seats in arrival order."""
    mails = build_corpus(registrations=140, repeats=8, unrelated=10, auto_replies=2)
    servers.deliver(mails)
    proxy = servers.imap_proxy()
    watchdog = Watchdog(
        build_desk(load_config(servers.config(db_url, imap=proxy, imap_extra={"timeout": 1})))
    )
    budget = int(sum(len(m.raw) for m in mails) * 0.8)  # in the second batch of bodies (100 + 60)
    (proxy.cut_after if how == "cut" else proxy.stall_after)(budget)

    started = time.monotonic()
    first = watchdog.run_pass()
    elapsed = time.monotonic() - started
    assert first.error.startswith(f"IMAP {proxy.host}:{proxy.port}: FETCH BODY.PEEK[]: ")
    assert ("timed out" if how == "stall" else "reset") in first.error
    assert elapsed < 5, elapsed
    done = ledger_count(db_url)
    assert 0 < done < len(mails)
    assert done % BODY_BATCH == 0  # nothing half-done: a batch is committed whole or not at all
    # The replies to what was committed went out although the mailbox had failed.
    assert len(servers.sink.messages) == len(keyword_mails(mails[:done]))

    proxy.forward()
    second = watchdog.run_pass()
    assert not second.failed, second.reason
    assert ledger_count(db_url) == len(mails)
    assert_each_answered_once(servers.sink, mails)
    code, out, err = invoke(servers.config(db_url, name="direct.toml"), "export")
    assert code == 0, err
    registrations = sorted((m for m in mails if m.kind == "registration"), key=lambda m: m.internaldate)
    assert [r["email"].lower() for r in read_csv(out.encode())] == [m.sender.lower() for m in registrations]


# --- SMTP 4xx and 5xx ---------------------------------------------------------------------------------------


def test_smtp_outage_of_an_hour_loses_nothing(servers: Servers, db_url: str) -> None:
    """An hour of 451, a pass every minute: replies retried at 1, 3, 7, 15, 31 min, then each sent once."""
    mails = build_corpus(registrations=4, repeats=1, unrelated=1, auto_replies=0)
    servers.deliver(mails)
    now = [T0]
    ticks = itertools.count()  # a clock that moves a little within a pass, as a real one does
    config = load_config(servers.config(db_url, poll_interval=60))
    watchdog = Watchdog(build_desk(config, clock=lambda: now[0] + timedelta(microseconds=next(ticks))))
    servers.sink.fail_with("451 4.3.0 mail system busy, try later")
    attempts_at = []
    for minute in range(61):
        now[0] = T0 + timedelta(minutes=minute)
        result = watchdog.run_pass()
        assert result.error == ""
        assert result.failed  # replies can't go out: counted for the watchdog and `health`
        if result.flush and result.flush.deferred:
            attempts_at.append(minute)
    assert attempts_at == [0, 1, 3, 7, 15, 31]  # the outbox's backoff: 1, 2, 4, 8, 16 (then 32) minutes
    assert servers.sink.messages == []
    pending = query(db_url, "SELECT count(*) FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL")
    assert pending[0][0] == len(keyword_mails(mails))

    servers.sink.fail_with(None)
    sent = []
    for minute in range(61, 64):
        now[0] = T0 + timedelta(minutes=minute)
        result = watchdog.run_pass()
        sent.append(result.flush.sent if result.flush else 0)
    assert sent == [0, 0, len(keyword_mails(mails))]  # at minute 63, the next retry
    assert not result.failed
    assert_each_answered_once(servers.sink, mails)
    assert ledger_count(db_url) == len(mails)


def test_smtp_5xx_marks_the_reply_failed_in_status_triage_and_csv(servers: Servers) -> None:
    """550: the reply is failed for good with the server's answer, never retried, shown to the admins."""
    servers.deliver(build_corpus(registrations=2, repeats=0, unrelated=0, auto_replies=0))
    config = servers.config()
    servers.sink.fail_with("550 5.1.1 mailbox unavailable")
    code, out, err = invoke(config, "run", "--once")
    assert code == 0, err
    assert "replies sent 0, deferred 0, failed 2" in out

    servers.sink.fail_with(None)
    code, out, _ = invoke(config, "run", "--once")
    assert "replies sent 0, deferred 0, failed 0" in out  # refused for good: not tried again
    assert servers.sink.messages == []

    _, status, _ = invoke(config, "status")
    assert "digitalisierung-2020: 2 reply(ies) failed permanently" in status
    _, triage, _ = invoke(config, "triage")
    assert len([line for line in triage.splitlines() if "failed: 550 5.1.1 mailbox unavailable" in line]) == 2
    _, csv_text, _ = invoke(config, "export")
    assert [r["reply_status"] for r in read_csv(csv_text.encode())] == ["failed", "failed"]


# --- the watchdog and `mailbot health` ----------------------------------------------------------------------


@pytest.mark.usefixtures("health_command")
def test_watchdog_alerts_once_after_n_failures_and_once_on_recovery_across_restarts(
    servers: Servers, db_url: str
) -> None:
    """IMAP down: one alert after N failed passes, none more (also after a restart), one 'recovered' mail."""
    proxy = servers.imap_proxy()
    path = servers.config(
        db_url, imap=proxy, poll_interval=60, alert_after_failures=3, admin_addresses=[ADMIN]
    )
    proxy.refuse()
    watchdog = Watchdog(build_desk(load_config(path)))
    assert [watchdog.run_pass().failures for _ in range(2)] == [1, 2]
    assert servers.sink.messages == []
    assert watchdog.run_pass().failures == 3
    assert alerts(servers.sink) == ["mailbot: Störung / not working"]
    alert = servers.sink.messages[0]
    assert alert.rcpt_tos == (ADMIN,)
    message = alert.message()
    assert (message["Auto-Submitted"], message["X-Mailbot-Status"]) == ("auto-generated", "alert")
    body = message.get_content()
    assert "(fehlgeschlagene Durchläufe in Folge: 3)" in body
    assert "Connection refused" in body

    restarted = Watchdog(build_desk(load_config(path)))  # a new process: the state is in the database
    assert restarted.run_pass().failures == 4
    assert len(servers.sink.messages) == 1
    code, _, err = invoke(path, "health")
    assert code == 1
    assert err.startswith("mailbot: unhealthy: no successful poll yet; 4 failed passes in a row")
    assert "Connection refused" in err
    assert len(err.strip().splitlines()) == 1

    proxy.forward()
    assert not restarted.run_pass().failed
    assert alerts(servers.sink) == ["mailbot: Störung / not working", "mailbot: läuft wieder / recovered"]
    assert not restarted.run_pass().failed
    assert len(servers.sink.messages) == 2
    code, out, _ = invoke(path, "health")
    assert code == 0
    assert out.startswith("healthy: last successful poll ")


def test_alert_waits_while_smtp_is_down_too_and_goes_out_when_it_is_back(
    servers: Servers, caplog: pytest.LogCaptureFixture
) -> None:
    """Network cut (IMAP and SMTP down): the alert is logged, not marked sent, and sent once SMTP is up."""
    imap, smtp = servers.imap_proxy(), servers.smtp_proxy()
    path = servers.config(
        imap=imap, smtp=smtp, poll_interval=60, alert_after_failures=2, admin_addresses=[ADMIN], language="en"
    )
    imap.refuse()
    smtp.refuse()
    watchdog = Watchdog(build_desk(load_config(path)))
    with caplog.at_level(logging.WARNING, logger="mailbot"):
        for _ in range(3):
            watchdog.run_pass()
    assert servers.sink.messages == []
    not_sent = [r for r in caplog.records if "notice to the admins not sent" in r.getMessage()]
    assert len(not_sent) == 2  # tried on passes 2 and 3

    smtp.forward()
    watchdog.run_pass()
    assert alerts(servers.sink) == ["mailbot: not working"]
    watchdog.run_pass()
    assert len(servers.sink.messages) == 1
    imap.forward()
    watchdog.run_pass()
    assert alerts(servers.sink) == ["mailbot: not working", "mailbot: recovered"]


def test_a_stale_last_poll_alerts_before_n_failures_and_makes_health_fail(servers: Servers) -> None:
    """Last successful poll older than 3 x poll_interval: the first failed pass alerts; health says why."""
    proxy = servers.imap_proxy()
    config = load_config(servers.config(imap=proxy, poll_interval=60, admin_addresses=[ADMIN]))
    now = [T0]
    desk = build_desk(config, clock=lambda: now[0])
    watchdog = Watchdog(desk)
    assert not watchdog.run_pass().failed
    assert check_health(desk.db, config, T0 + timedelta(minutes=2)).healthy

    proxy.refuse()
    now[0] = T0 + timedelta(minutes=4)
    assert watchdog.run_pass().failures == 1  # alert_after_failures is 5, but the last poll is 4 min old
    assert alerts(servers.sink) == ["mailbot: Störung / not working"]
    verdict = check_health(desk.db, config, now[0])
    assert not verdict.healthy
    assert verdict.line.startswith(
        "unhealthy: last successful poll 4 min ago (more than 3 x poll_interval = 3 min); last error: IMAP "
    )


def test_run_once_alerts_after_alert_after_failures_in_a_row_not_at_the_first(servers: Servers) -> None:
    """`run --once` by cron: an old last poll is no outage; the alert comes at the 5th failure in a row."""
    proxy = servers.imap_proxy()
    path = servers.config(imap=proxy, poll_interval=60, admin_addresses=[ADMIN])
    assert invoke(path, "run", "--once")[0] == 0
    db = Database(servers.sqlite)
    with db.transaction() as tx:  # the last run of the schedule was an hour ago: 60 x poll_interval
        tx.set_state(LAST_POLL, (datetime.now(UTC) - timedelta(hours=1)).isoformat())
    db.dispose()
    proxy.refuse()
    for _ in range(4):
        code, _, err = invoke(path, "run", "--once")
        assert code == 1
        assert "Connection refused" in err
    assert alerts(servers.sink) == []  # as documented: alert_after_failures = 5
    assert invoke(path, "run", "--once")[0] == 1
    assert alerts(servers.sink) == ["mailbot: Störung / not working"]
    assert "(fehlgeschlagene Durchläufe in Folge: 5)" in servers.sink.messages[0].message().get_content()


def test_run_once_that_never_succeeded_never_alerts(servers: Servers) -> None:
    """A fresh desk whose `run --once` keeps failing (a first try of the config) mails no admin at all."""
    proxy = servers.imap_proxy()
    path = servers.config(imap=proxy, poll_interval=1, alert_after_failures=2, admin_addresses=[ADMIN])
    proxy.refuse()
    for _ in range(4):
        assert invoke(path, "run", "--once")[0] == 1
        time.sleep(1.1)  # 4 runs outlast 3 x poll_interval: the staleness rule must not count either
    assert servers.sink.messages == []
    code, _, err = invoke(path, "health")
    assert code == 1
    assert err.startswith("mailbot: unhealthy: no successful poll yet; 4 failed passes in a row")


@pytest.mark.usefixtures("health_command")
def test_health_exits_0_when_healthy_and_1_with_the_reason(servers: Servers) -> None:
    """`mailbot health`: 1 before the first poll, 0 after a pass, 1 once that is older than 3 intervals."""
    path = servers.config(poll_interval=10)
    assert invoke(path, "db", "upgrade")[0] == 0
    assert invoke(path, "health")[1:] == ("", "mailbot: unhealthy: no successful poll yet\n")
    assert invoke(path, "run", "--once")[0] == 0
    code, out, _ = invoke(path, "health")
    assert code == 0
    assert re.fullmatch(r"healthy: last successful poll [0-2] s ago\n", out), out
    db = Database(servers.sqlite)
    with db.transaction() as tx:
        tx.set_state(LAST_POLL, (datetime.now(UTC) - timedelta(seconds=45)).isoformat())
    db.dispose()
    code, _, err = invoke(path, "health")
    assert (code, err) == (
        1,
        "mailbot: unhealthy: last successful poll 45 s ago (more than 3 x poll_interval = 30 s)\n",
    )


# --- the scheduler ------------------------------------------------------------------------------------------


def test_retry_delay_doubles_from_the_poll_interval_up_to_its_cap() -> None:
    """Failed passes wait interval, 2x, 4x ... at most 10 intervals or 15 min; success means one interval."""
    assert [retry_delay(60, n) for n in range(8)] == [60, 60, 120, 240, 480, 600, 600, 600]
    assert [retry_delay(300, n) for n in (1, 2, 3, 4)] == [300, 600, 900, 900]
    assert retry_delay(3600, 5) == 3600  # never shorter than the interval itself


def test_scheduler_backs_off_while_passes_fail_resets_on_success_and_never_overlaps() -> None:
    """Real APScheduler: gaps of 1, 2, 4 intervals after failures, 1 after a success; one pass at a time."""
    interval = 0.15
    outcomes = [False, False, False, True, True]
    starts: list[float] = []
    running: list[int] = []
    overlap: list[int] = []
    stop = threading.Event()

    def job() -> bool:
        running.append(1)
        overlap.append(len(running))
        starts.append(time.monotonic())
        time.sleep(interval * 1.5 if len(starts) == 4 else 0)  # one pass longer than the interval
        running.pop()
        if len(starts) == len(outcomes):
            stop.set()
        return outcomes[len(starts) - 1]

    before = signal.getsignal(signal.SIGTERM)
    run_forever(job, interval, stop)
    assert signal.getsignal(signal.SIGTERM) == before  # the handlers are given back
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    expected = [interval, 2 * interval, 4 * interval, 2 * interval]  # the 4th pass overran one tick
    for gap, want in zip(gaps, expected, strict=True):
        assert want - 0.02 <= gap <= want + 0.12, (gaps, expected)
    assert max(overlap) == 1


# --- SIGTERM (docker stop) ----------------------------------------------------------------------------------


def ledger_count_or_zero(url: str) -> int:
    """The ledger's size, 0 while the bot hasn't created the schema yet."""
    try:
        return ledger_count(url)
    except Exception:  # noqa: BLE001 (no table yet)
        return 0


def test_sigterm_during_a_long_pass_exits_0_fast_and_a_restart_completes_without_duplicates(
    servers: Servers, db_url: str
) -> None:
    """SIGTERM mid-pass (150 mails): exit 0 within 10 s after the message in hand; a restart does the rest."""
    mails = build_corpus(registrations=135, repeats=5, unrelated=8, auto_replies=2)
    servers.deliver(mails)
    path = servers.config(db_url, poll_interval=60)
    proc = mailbot(path, "run")
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and ledger_count_or_zero(db_url) < 20:
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        _, err = proc.communicate(timeout=15)
        assert time.monotonic() - started < 10
        assert proc.returncode == 0, err
        assert "mailbot stopped" in err
        assert "Traceback" not in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    interrupted = ledger_count(db_url)
    assert 20 <= interrupted < len(mails), "SIGTERM must land in the middle of the pass"

    code, _, err = invoke(path, "run", "--once")
    assert code == 0, err
    assert ledger_count(db_url) == len(mails)
    assert_each_answered_once(servers.sink, mails)


def test_sigterm_while_the_imap_server_stalls_exits_0_within_10_s(servers: Servers) -> None:
    """A pass (and the IDLE watcher) stuck on a silent server doesn't hold up docker stop: exit 0 in 10 s."""
    proxy = servers.imap_proxy()
    path = servers.config(imap=proxy, poll_interval=60)
    proxy.stall()
    proc = mailbot(path, "run")
    try:
        deadline = time.monotonic() + 15
        while proxy.accepted < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proxy.accepted == 2  # the pass and the IDLE watcher, both stuck on the silent server
        proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        _, err = proc.communicate(timeout=15)
        assert time.monotonic() - started < 10
        assert proc.returncode == 0, err
        assert "still waiting on a server" in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
