"""Crash safety: `mailbot run` killed with SIGKILL at random moments over a burst of 500 registrations."""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session

from mailbot.adapters.db import Database, LedgerRow, OutboxRow
from mailbot.adapters.db.migrate import migrate
from mailbot.bootstrap import build_desk
from mailbot.config import load_config
from mailbot.core.model import Outcome
from mailbot.demo.corpus import CorpusMail, build_corpus
from mailbot.demo.servers import ReceivedMail, SmtpSink
from mailbot.ports import DeliveryResult, OutgoingMail
from mailbot.service import BODY_BATCH, PROCESSED_KEYWORD, Desk, outbox
from tests.conftest import config_data, toml_text
from tests.integration.test_desk import deliver, invoke, mailbox_state, message_id, read_csv
from tests.servers import Dovecot, ImapAccount

REPO = Path(__file__).resolve().parents[2]
KILLS = 20
PASS_KILLS = 12  # the first kills land while mail is being processed, the rest while replies go out
# The outcomes whose mails the bot marks (this corpus has no cancellations or status queries).
MARKED = (Outcome.REGISTERED.value, Outcome.DUPLICATE.value)
MESSAGE_ID = re.compile(rb"^Message-ID:\s*(<[^>\r\n]+>)", re.IGNORECASE | re.MULTILINE)


@cache
def corpus() -> tuple[CorpusMail, ...]:
    """500 registrations, 5 repeat senders, 5 unrelated mails and 2 robots: one burst in the inbox."""
    return tuple(build_corpus(registrations=500, repeats=5, unrelated=5, auto_replies=2))


def keyword_mails() -> list[CorpusMail]:
    """The mails the desk acts on (and answers)."""
    return [m for m in corpus() if m.kind in ("registration", "repeat")]


def write_config(workdir: Path, account: ImapAccount, sink: SmtpSink, url: str) -> Path:
    """A config.toml for the test servers; the loop polls every 0.2 s, replies go over one SMTP connection.

    One connection: then at most one reply is between the server's 250 and the bot's record of it (with
    `[smtp] connections = N`, N are; the bound per connection is the same).
    """
    data = config_data(account, sink, url, poll_interval=0.2)
    data["smtp"]["connections"] = 1  # type: ignore[index]
    path = workdir / "config.toml"
    path.write_text(toml_text(data), encoding="utf-8")
    return path


def mailbot(config: Path, log: Path, *args: str) -> subprocess.Popen[bytes]:
    """Start `python -m mailbot --config CONFIG ARGS...`, its log lines (stderr) going to `log`."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with log.open("wb") as stderr:
        return subprocess.Popen(
            [sys.executable, "-m", "mailbot", "--config", str(config), *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env=env,
            cwd=config.parent,
        )


def wait_until(condition: Callable[[], bool], timeout: float, step: float = 0.01) -> bool:
    """Poll `condition` until it holds (True) or `timeout` seconds passed (False)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
    return True


def reply_id(mail: ReceivedMail) -> str:
    """The Message-ID of an accepted reply (read from the raw header: cheap enough to poll)."""
    header = mail.data.split(b"\r\n\r\n", 1)[0]
    found = MESSAGE_ID.search(header)
    assert found is not None, "a reply without Message-ID"
    return found[1].decode()


def distinct_replies(messages: Sequence[ReceivedMail]) -> dict[str, ReceivedMail]:
    """The replies the SMTP server accepted, by Message-ID (a duplicate is the same reply sent again)."""
    return {reply_id(m): m for m in messages}


def message_ids(messages: Sequence[ReceivedMail]) -> list[str]:
    """The Message-IDs of the accepted replies, one per acceptance."""
    return [reply_id(m) for m in messages]


@dataclass(frozen=True)
class Result:
    """What a run left behind that must not depend on crashes."""

    registrations: list[tuple[str, int, str, str]]  # event_id, position, status, email (the CSV's core)
    replies: Counter[tuple[str, str]]  # (recipient, X-Mailbot-Status), one per distinct reply


def result(config: Path, messages: Sequence[ReceivedMail]) -> Result:
    """Registrations from `mailbot export` (the CSV staff get), replies from the SMTP sink."""
    code, out, err = invoke(config, "export")
    assert code == 0, err
    rows = read_csv(out.encode("utf-8"))
    replies = Counter(
        (m.rcpt_tos[0].lower(), str(m.message()["X-Mailbot-Status"]))
        for m in distinct_replies(messages).values()
    )
    return Result([(r["event_id"], int(r["arrival_no"]), r["status"], r["email"]) for r in rows], replies)


@pytest.fixture(scope="module")
def reference(dovecot_server: Dovecot, tmp_path_factory: pytest.TempPathFactory) -> Result:
    """The crash-free run: the same corpus in a fresh mailbox and database, one `run --once`."""
    account = dovecot_server.account()
    deliver(dovecot_server, account, list(corpus()))
    workdir = tmp_path_factory.mktemp("reference")
    url = f"sqlite:///{workdir / 'mailbot.db'}"
    with SmtpSink() as sink:
        config = write_config(workdir, account, sink, url)
        proc = mailbot(config, workdir / "run.log", "run", "--once")
        assert proc.wait(timeout=180) == 0, (workdir / "run.log").read_text()
        return result(config, sink.messages)


@dataclass(frozen=True)
class Snapshot:
    """The bot's database right after a kill."""

    ledger: int  # messages recorded
    unmarked: list[int]  # UIDs committed as registration mail but not yet marked in the mailbox
    unsent: list[tuple[str, datetime]]  # (Message-ID, next attempt) of replies not recorded as sent


class Probe:
    """Reads the bot's database from outside on one connection, never taking SQLite's write lock."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url, pool_size=1, max_overflow=0)
        self.journal = Database(url).sent_journal()  # SQLite: the sending process records replies there

    def ledger(self) -> int:
        """How many messages the ledger holds (cheap: polled while the bot runs)."""
        with Session(self.engine) as session:
            return int(session.scalar(select(func.count()).select_from(LedgerRow)) or 0)

    def settle(self) -> None:
        """PostgreSQL: wait until the killed process's sessions are gone (a COMMIT it sent may still land)."""
        if self.engine.dialect.name != "postgresql":
            return  # SQLite: the writer's journal is consistent the moment the process is gone
        others = text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
        )

        def gone() -> bool:
            with self.engine.connect() as conn:
                return conn.execute(others).scalar() == 0

        assert wait_until(gone, 10, 0.01), "the killed process's database sessions did not end"

    def snapshot(self) -> Snapshot:
        """Ledger size, unmarked registration mails, unsent replies."""
        with Session(self.engine) as session:
            ledger = int(session.scalar(select(func.count()).select_from(LedgerRow)) or 0)
            unmarked = session.scalars(
                select(LedgerRow.uid).where(LedgerRow.flagged.is_(False), LedgerRow.outcome.in_(MARKED))
            )
            unsent = session.execute(
                select(OutboxRow.id, OutboxRow.message_id, OutboxRow.next_attempt_at).where(
                    OutboxRow.sent_at.is_(None)
                )
            )
            # A reply in the sent journal is recorded as sent (the next pass folds it, never sends it again).
            journaled = {outbox_id for outbox_id, _ in self.journal.entries()} if self.journal else set()
            return Snapshot(
                ledger,
                sorted(unmarked),
                [(mid, when) for outbox_id, mid, when in unsent if outbox_id not in journaled],
            )

    def dispose(self) -> None:
        """Close the connection."""
        self.engine.dispose()


@dataclass(frozen=True)
class Kill:
    """One SIGKILL: how it was triggered, what the bot was doing, what it left in flight."""

    trigger: str  # start | commit | flag | batch | send: what the test waited for before killing
    phase: str  # starting | fetching | committing | flagging | sending | idle; "committing+sending" etc.

    @property
    def activities(self) -> set[str]:
        """What the process was doing at once (the pass and the sender thread run side by side)."""
        return set(self.phase.split("+"))

    after: float  # seconds since the process started
    window: frozenset[str]  # replies the SMTP server had accepted but the bot had not recorded as sent


@dataclass
class Bench:
    """One crash scenario's servers: a fresh mailbox, the SMTP sink, the database and a reader of it."""

    dovecot: Dovecot
    account: ImapAccount
    sink: SmtpSink
    url: str
    probe: Probe
    workdir: Path

    def keywords_set(self, uids: Sequence[int]) -> bool:
        """Whether any of these messages already carries the bot's keyword (read-only, changes nothing)."""
        client = self.dovecot.client(self.account.user)
        try:
            client.select_folder("INBOX", readonly=True)
            flags = client.get_flags(list(uids))
        finally:
            client.logout()
        return any(PROCESSED_KEYWORD.encode() in f for f in flags.values())

    def phase_of(self, snap: Snapshot, started: bool) -> str:
        """What the killed process was doing, read from what it left behind.

        Registrations committed but not marked: committing the batch, or flagging it if the keyword already
        reached the server. Replies claimed but unsent: sending (the sender thread works beside the pass, so
        both can be true: "committing+sending"). Otherwise before the commit of a batch (SELECT, SEARCH,
        FETCH, deciding it in its transaction): fetching; still importing: starting; nothing left: idle.
        """
        now = datetime.now(UTC)
        activities = []
        if snap.unmarked:
            activities.append("flagging" if self.keywords_set(snap.unmarked) else "committing")
        if any(when > now for _, when in snap.unsent):
            activities.append("sending")
        if activities:
            return "+".join(activities)
        if not started:
            return "starting"
        if snap.ledger < len(corpus()) or snap.unsent:
            return "fetching"
        return "idle"

    def kill_once(self, config: Path, log: Path, trigger: str, goal: int, delay: float) -> Kill:
        """Start `mailbot run`, wait for the trigger, wait `delay` more, SIGKILL it; what was in flight?"""
        base, sent = self.probe.ledger(), len(self.sink.messages)
        accepted = Counter(message_ids(self.sink.messages))
        watcher = self.dovecot.client(self.account.user)  # sees the keyword the moment the bot stores it
        watcher.select_folder("INBOX", readonly=True)
        marked = len(watcher.search(["KEYWORD", PROCESSED_KEYWORD]))

        def running() -> bool:
            return "mailbot running" in log.read_text(errors="replace")

        condition: Callable[[], bool] = {
            "start": running,
            "commit": lambda: self.probe.ledger() >= base + goal,
            # The end of the pass's first batch: the bot marks it, then fetches the next one.
            "batch": lambda: self.probe.ledger() >= base + BODY_BATCH,
            # The keyword reached the server; the bot is about to record that in the ledger.
            "flag": lambda: len(watcher.search(["KEYWORD", PROCESSED_KEYWORD])) > marked,
            "send": lambda: len(self.sink.messages) >= sent + goal,
        }[trigger]
        proc = mailbot(config, log, "run")
        started = time.monotonic()
        try:
            step = 0.0005 if trigger == "flag" else 0.01
            reached = wait_until(lambda: condition() or proc.poll() is not None, 60, step)
            assert reached, f"{trigger} never came:\n{log.read_text()}"
            assert proc.poll() is None, f"mailbot exited by itself:\n{log.read_text()}"
            time.sleep(delay)
        finally:
            proc.kill()
            proc.wait()
            watcher.logout()
        after = time.monotonic() - started
        self.probe.settle()
        snap = self.probe.snapshot()
        # Accepted by the server in this run, yet not recorded as sent (earlier kills' windows don't count).
        now_accepted = Counter(message_ids(self.sink.messages))
        window = frozenset(mid for mid, _ in snap.unsent if now_accepted[mid] > accepted[mid])
        return Kill(trigger, self.phase_of(snap, running()), after, window)

    def finish(self, config: Path, log: Path) -> None:
        """A last `mailbot run`, not killed, until everything is done; then SIGTERM, and it exits 0."""
        proc = mailbot(config, log, "run")
        try:

            def finished() -> bool:
                snap = self.probe.snapshot()
                return snap.ledger == len(corpus()) and not snap.unmarked and not snap.unsent

            # Well within SEND_LEASE: no reply waits out the lease of a dead process.
            assert wait_until(finished, 60, 0.1), f"not finished:\n{log.read_text()}"
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        assert proc.returncode == 0, log.read_text()


@pytest.fixture
def bench(
    dovecot_server: Dovecot, imap_account: ImapAccount, smtp_sink: SmtpSink, db_url: str, tmp_path: Path
) -> Iterator[Bench]:
    """The corpus in a fresh mailbox; the sink and database (SQLite, PostgreSQL) of this test."""
    deliver(dovecot_server, imap_account, list(corpus()))
    db = Database(db_url)
    migrate(db)  # so the probe can read before the first run got that far
    db.dispose()
    probe = Probe(db_url)
    yield Bench(dovecot_server, imap_account, smtp_sink, db_url, probe, tmp_path)
    probe.dispose()


def plan(
    rng: random.Random, number: int, snap: Snapshot, replied: int, done: Counter[str]
) -> tuple[str, int, float]:
    """The trigger of kill `number`, how far it lets the bot get, and an extra delay before the kill.

    The first kills come while mail is processed: soon after the start (fetching), after some commits
    (committing), as the keyword reaches the server (flagging), at the end of a batch (flagging it,
    fetching the next). The others come while replies go out (some sent), a few soon after the start.
    Each kill lets the bot get at most its share of the work left, so there is work for all of them.
    """
    unprocessed = len(corpus()) - snap.ledger
    if number < PASS_KILLS and unprocessed > 60:
        share = unprocessed // (PASS_KILLS - number + 1)
        options = ["start", "commit", "commit"]
        if done["flag"] < 3 and (snap.unmarked or share >= BODY_BATCH):
            options.append("flag")  # with leftovers the bot marks them first thing in its pass
        if done["batch"] < 2 and share >= BODY_BATCH:
            options.append("batch")
        trigger = rng.choice(options)
        goal = rng.randint(1, max(1, min(25, share)))
        delay = rng.uniform(0, {"start": 0.25, "batch": 0.02}.get(trigger, 0.0))
        return trigger, goal, delay
    share = (len(keyword_mails()) - replied) // (KILLS - number + 1)
    trigger = "start" if share >= 60 and rng.random() < 0.25 and done["start"] < 5 else "send"
    return trigger, rng.randint(1, max(1, min(30, share))), rng.uniform(0, 0.25 if trigger == "start" else 0)


def test_sigkill_at_random_moments_loses_nothing_and_books_each_mail_once(
    bench: Bench, reference: Result
) -> None:
    """20 SIGKILLs over 500 registrations: crash-free seats, waitlist, replies; duplicates only in flight."""
    seed = int(os.environ.get("MAILBOT_CRASH_SEED") or random.SystemRandom().randrange(2**32))
    print(f"crash test seed {seed} (repeat with MAILBOT_CRASH_SEED={seed})")
    rng = random.Random(seed)  # noqa: S311 (test moments, not cryptography)
    mails = list(corpus())
    before = mailbox_state(bench.dovecot, bench.account)
    config = write_config(bench.workdir, bench.account, bench.sink, bench.url)
    began = time.monotonic()
    kills: list[Kill] = []
    for number in range(KILLS):
        done = Counter(k.trigger for k in kills)
        replied = len(distinct_replies(bench.sink.messages))
        trigger, goal, delay = plan(rng, number, bench.probe.snapshot(), replied, done)
        log = bench.workdir / f"run-{number:02d}.log"
        try:
            kills.append(bench.kill_once(config, log, trigger, goal, delay))
        except AssertionError as exc:
            raise AssertionError(f"seed {seed}, kill {number}: {exc}") from None
    bench.finish(config, bench.workdir / "run-final.log")
    elapsed = time.monotonic() - began

    sent = bench.sink.messages
    replies = distinct_replies(sent)
    duplicates = Counter(message_ids(sent)) - Counter(set(replies))
    phases = Counter(k.phase for k in kills)
    in_flight = sum("sending" in k.activities for k in kills)
    print(f"{KILLS} kills in {elapsed:.1f} s, by phase {dict(phases)}")
    print(f"replies accepted {len(sent)}, distinct {len(replies)}, duplicates {duplicates.total()}")
    for number, kill in enumerate(kills):
        print(
            f"  kill {number:2d} {kill.trigger:6s} {kill.after:5.2f} s  {kill.phase:10s} {len(kill.window)}"
        )
    context = f"seed {seed}, kills {kills}"
    logs = "".join(p.read_text(errors="replace") for p in sorted(bench.workdir.glob("run-*.log")))
    assert "Traceback" not in logs
    assert "quarantined" not in logs  # a crash never turns a good mail into a bad one
    assert "pass failed" not in logs
    assert "idle" not in phases, context  # every kill interrupted work
    # Kills hit the pass and the sender. A batch is decided in one transaction, so a kill while it is being
    # decided leaves what a kill while fetching it leaves (nothing of it): both count as "fetching".
    activities = {a for k in kills for a in k.activities}
    assert "sending" in activities, context
    assert activities & {"fetching", "committing", "flagging"}, context

    # Every registration mail has exactly one registration; seats and waitlist are the crash-free run's.
    crashed = result(config, sent)
    assert len(crashed.registrations) == 500
    assert crashed.registrations == reference.registrations, context
    # No reply lost, none invented: the same replies (recipient and status) as without crashes.
    assert crashed.replies == reference.replies, context
    assert len(replies) == len(keyword_mails())
    # Duplicates only from the window between the server's 250 and the bot's commit of `sent_at`: at most
    # one per kill (one SMTP connection, one mail at a time), and only a reply that was in that window.
    assert all(len(k.window) <= 1 for k in kills), context
    assert all("sending" in k.activities for k in kills if k.window), context
    windows = Counter(mid for k in kills for mid in k.window)
    assert duplicates <= windows, context
    assert duplicates.total() <= in_flight

    # The mailbox: every keyword mail marked (re-marked after a crash between commit and mark), nothing
    # \Seen, everything else exactly as it was.
    after = mailbox_state(bench.dovecot, bench.account)
    assert set(after) == set(before)
    for mail in mails:
        want = (PROCESSED_KEYWORD,) if mail.kind in ("registration", "repeat") else ()
        assert after[message_id(mail)] == want, (mail.kind, mail.sender)


# --- the release of an orphaned claim, step by step ------------------------------------------------------


class DyingMailer:
    """Accepts the first mail, defers the second (4xx), then dies like a killed process (no cleanup)."""

    def send_all(self, mails: Sequence[OutgoingMail], report: Callable[[DeliveryResult], None]) -> None:
        """Report one accepted and one deferred mail, then raise before the rest."""
        report(DeliveryResult(mails[0].outbox_id, accepted=True))
        if len(mails) > 1:
            report(DeliveryResult(mails[1].outbox_id, accepted=False, error="451 4.3.0 try later"))
        raise RuntimeError("killed mid-send")


def registration(number: int) -> bytes:
    """A minimal registration mail from person<number>@example.org."""
    return (
        f"From: Person {number} <person{number}@example.org>\r\n"
        "To: digitalisierung@castrop-rauxel.de\r\n"
        f"Message-ID: <claim-{number}@example.org>\r\n"
        "Subject: Digitalisierung 08.10.\r\n\r\nIch melde mich an.\r\n"
    ).encode()


def test_next_pass_releases_only_the_dead_pass_runners_claim(
    dovecot_server: Dovecot, imap_account: ImapAccount, smtp_sink: SmtpSink, db_url: str, tmp_path: Path
) -> None:
    """A dead pass-runner's claimed replies go out on the next pass at once; backoffs, admin claims wait."""
    config = load_config(write_config(tmp_path, imap_account, smtp_sink, db_url), {})
    start = datetime(2020, 9, 21, 8, 0, tzinfo=UTC)
    desk = build_desk(config)
    real = desk.mailer

    def die_while_sending(*, leader: bool) -> None:
        desk.mailer = DyingMailer()
        with pytest.raises(RuntimeError):
            desk.flush_outbox(leader=leader)
        desk.mailer = real

    def pending() -> list[str]:
        with desk.db.transaction() as tx:
            query = select(OutboxRow.recipient).where(OutboxRow.sent_at.is_(None)).order_by(OutboxRow.id)
            return [r.split("@")[0] for r in tx.session.scalars(query)]

    # The pass-runner dies: person0 accepted, person1 deferred (4xx), person2 and person3 still claimed.
    dovecot_server.append_many(imap_account.user, [(registration(n), start) for n in range(4)])
    desk.poll_once()
    die_while_sending(leader=True)
    _, flush = desk.run_once()
    assert sorted(m.rcpt_tos[0] for m in smtp_sink.messages) == ["person2@example.org", "person3@example.org"]
    assert flush.sent == 2
    assert pending() == ["person1"]  # waits out its backoff

    # An admin command dies (it flushes without the leader lock): its claim of person6 holds.
    smtp_sink.clear()
    dovecot_server.append_many(imap_account.user, [(registration(n), start) for n in range(4, 7)])
    desk.poll_once()
    die_while_sending(leader=False)
    _, flush = desk.run_once()
    assert smtp_sink.messages == []
    assert flush.sent == 0
    assert pending() == ["person1", "person5", "person6"]
    desk.db.dispose()


def test_next_pass_records_the_sent_journal_before_it_releases_a_dead_senders_claim(
    dovecot_server: Dovecot,
    imap_account: ImapAccount,
    smtp_sink: SmtpSink,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SQLite: a reply the dead sending process journaled as accepted is recorded sent, never sent again."""
    url = f"sqlite:///{tmp_path / 'journal.db'}"
    config = load_config(write_config(tmp_path, imap_account, smtp_sink, url), {})
    start = datetime(2020, 9, 21, 8, 0, tzinfo=UTC)
    desk = build_desk(config)
    assert desk.journal is not None
    desk.record_to_journal = True  # as in the sending process of `mailbot run`
    real, desk.mailer = desk.mailer, DyingMailer()
    dovecot_server.append_many(imap_account.user, [(registration(n), start) for n in range(4)])
    desk.poll_once()
    # Killed mid-send, before the flush's closing fold: person0 accepted (in the journal alone), person1
    # deferred, person2 and person3 claimed.
    with monkeypatch.context() as patched:
        patched.setattr(outbox, "fold_journal", lambda *_args, **_kwargs: None)
        with pytest.raises(RuntimeError):
            desk.flush_outbox(leader=True)
    assert [outbox_id for outbox_id, _ in desk.journal.entries()] == [first_reply_id(desk)]

    desk.mailer = real
    desk.record_to_journal = False
    _, flush = desk.run_once()
    assert sorted(m.rcpt_tos[0] for m in smtp_sink.messages) == ["person2@example.org", "person3@example.org"]
    assert flush.sent == 2
    with desk.db.transaction() as tx:
        query = select(OutboxRow.recipient).where(OutboxRow.sent_at.is_(None)).order_by(OutboxRow.id)
        assert [r.split("@")[0] for r in tx.session.scalars(query)] == ["person1"]
    assert desk.journal.entries() == []
    desk.db.dispose()


def first_reply_id(desk: Desk) -> int:
    """The outbox id of the first queued reply."""
    with desk.db.transaction() as tx:
        return int(tx.session.scalar(select(func.min(OutboxRow.id))) or 0)
