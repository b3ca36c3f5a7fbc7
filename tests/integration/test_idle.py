"""Push delivery: the IMAP IDLE watcher on real Dovecot, the scheduler's wakes, `mailbot run` with IDLE."""

from __future__ import annotations

import itertools
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mailbot.adapters.imap import IdleWatcher, idle
from mailbot.demo.corpus import build_corpus
from mailbot.demo.servers import SmtpSink
from mailbot.scheduler import Closeable, run_forever
from tests.integration.test_desk import deliver, invoke
from tests.integration.test_processes import mailbot
from tests.proxy import Proxy, _Pair
from tests.servers import Dovecot, ImapAccount

MAIL = b"From: anna@example.org\r\nSubject: Digitalisierung 08.10.\r\n\r\nIch melde mich an.\r\n"


class Wakes:
    """Records when `wake()` was called; `wait()` blocks until a new call."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self._cond = threading.Condition()

    def __call__(self) -> None:
        with self._cond:
            self.times.append(time.monotonic())
            self._cond.notify_all()

    def wait(self, count: int, timeout: float) -> bool:
        """Whether `count` wakes in all have been seen within `timeout` seconds."""
        with self._cond:
            return self._cond.wait_for(lambda: len(self.times) >= count, timeout)


class NoIdleProxy(Proxy):
    """Forwards to Dovecot, but strips IDLE from the CAPABILITY lists it sends: a server without IDLE.

    Good enough for a login and EXAMINE: no mail content passes (which could contain the word).
    """

    def _copy(self, pair: _Pair, direction: str) -> bool:
        if direction == "up":
            return super()._copy(pair, direction)
        assert pair.upstream is not None
        try:
            data = pair.upstream.recv(65536)
            if data:
                pair.client.sendall(data.replace(b" IDLE", b""))
        except OSError:
            return False
        return bool(data)


def watcher(host: str, port: int, account: ImapAccount, wakes: Wakes) -> IdleWatcher:
    """An IdleWatcher on the account's INBOX through host:port (plaintext loopback)."""
    return IdleWatcher(
        host=host,
        port=port,
        security="none",
        username=account.user,
        password=account.password,
        folder="INBOX",
        timeout=10,
        wake=wakes,
    )


@pytest.fixture
def proxy(dovecot_server: Dovecot) -> Iterator[Proxy]:
    """A TCP proxy in front of the session's Dovecot, to cut the watcher's connection."""
    with Proxy(dovecot_server.host, dovecot_server.port) as running:
        yield running


# --- the watcher on real Dovecot ---------------------------------------------------------------------------


def test_watcher_wakes_within_two_seconds_of_an_append(
    dovecot_server: Dovecot, imap_account: ImapAccount
) -> None:
    """In IDLE, an APPEND to the folder calls wake() within 2 s (Dovecot reports it after ~0.5 s)."""
    wakes = Wakes()
    watch = watcher(imap_account.host, imap_account.port, imap_account, wakes).start()
    try:
        assert wakes.wait(1, 10), "entering IDLE wakes once (mail from before the connection)"
        assert watch.supported is True
        delivered = time.monotonic()
        dovecot_server.append(imap_account.user, MAIL)
        assert wakes.wait(2, 2.0)
        assert wakes.times[1] - delivered < 2.0
    finally:
        watch.close()
    assert not watch.alive


def test_watcher_reconnects_after_the_server_drops_the_connection_and_wakes_again(
    dovecot_server: Dovecot, imap_account: ImapAccount, proxy: Proxy
) -> None:
    """A reset connection is noticed at once: a new one within ~1 s, a wake for it, and IDLE works again."""
    wakes = Wakes()
    watch = watcher(proxy.host, proxy.port, imap_account, wakes).start()
    try:
        assert wakes.wait(1, 10)
        proxy.cut()
        cut = time.monotonic()
        assert wakes.wait(2, 5), "the new connection wakes once (mail may have come while it was down)"
        assert proxy.accepted == 2
        assert wakes.times[1] - cut < 3.0
        delivered = time.monotonic()
        dovecot_server.append(imap_account.user, MAIL)
        assert wakes.wait(3, 2.0)
        assert wakes.times[2] - delivered < 2.0
    finally:
        watch.close()


def test_watcher_reissues_idle_on_the_same_connection_and_still_sees_new_mail(
    dovecot_server: Dovecot, imap_account: ImapAccount, proxy: Proxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """IDLE is ended and re-issued every REISSUE_AFTER (RFC 2177) without a new connection or a lost mail."""
    monkeypatch.setattr(idle, "REISSUE_AFTER", 0.3)
    wakes = Wakes()
    watch = watcher(proxy.host, proxy.port, imap_account, wakes).start()
    try:
        assert wakes.wait(1, 10)
        time.sleep(1.5)  # several DONE / IDLE rounds
        dovecot_server.append(imap_account.user, MAIL)
        assert wakes.wait(2, 2.5)
        assert proxy.accepted == 1
        assert watch.alive
    finally:
        watch.close()


def test_watcher_stops_when_the_server_has_no_idle(
    dovecot_server: Dovecot, imap_account: ImapAccount
) -> None:
    """Without IDLE in CAPABILITY the watcher ends at once with supported = False and never wakes."""
    with NoIdleProxy(dovecot_server.host, dovecot_server.port) as no_idle:
        wakes = Wakes()
        watch = watcher(no_idle.host, no_idle.port, imap_account, wakes).start()
        deadline = time.monotonic() + 10
        while watch.alive and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not watch.alive
        assert watch.supported is False
        assert no_idle.accepted == 1  # no reconnecting either
        watch.close()
        assert wakes.times == []


# --- the scheduler's wakes (a fake job: the scheduler is glue) ----------------------------------------------


class Driver:
    """Stands in for the IDLE watcher: `watch` hands over the scheduler's wake to a script run in a thread."""

    def __init__(self, script: Callable[[Callable[[], None]], None]) -> None:
        self.script = script
        self.closed = False
        self.errors: list[BaseException] = []

    def watch(self, wake: Callable[[], None]) -> Closeable:
        def run() -> None:
            try:
                self.script(wake)
            except BaseException as exc:  # noqa: BLE001 (reported by the test)
                self.errors.append(exc)

        threading.Thread(target=run, daemon=True).start()
        return self

    def close(self) -> None:
        self.closed = True


class Passes:
    """A fake job: records each pass's start and end, and how many ran at once."""

    def __init__(self, duration: float = 0.0, ok: bool = True) -> None:
        self.duration, self.ok = duration, ok
        self.starts: list[float] = []
        self.ends: list[float] = []
        self.first = threading.Event()
        self.release = threading.Event()  # the first pass waits for it
        self.release.set()
        self._running = 0
        self.overlap = 0

    def __call__(self) -> bool:
        self._running += 1
        self.overlap = max(self.overlap, self._running)
        self.starts.append(time.monotonic())
        self.first.set()
        if len(self.starts) == 1:
            self.release.wait(10)
        time.sleep(self.duration)
        self.ends.append(time.monotonic())
        self._running -= 1
        return self.ok


def test_a_wake_during_a_pass_runs_exactly_one_more_pass_right_after_it() -> None:
    """Five wakes during a pass make one extra pass, starting at once after it; nothing else runs."""
    passes = Passes()
    passes.release.clear()
    stop = threading.Event()

    def script(wake: Callable[[], None]) -> None:
        assert passes.first.wait(10)
        for _ in range(5):
            wake()
        passes.release.set()
        time.sleep(1.0)
        stop.set()

    driver = Driver(script)
    run_forever(passes, 60, stop, watch=driver.watch)
    assert driver.errors == []
    assert len(passes.starts) == 2, passes.starts
    assert passes.starts[1] - passes.ends[0] < 0.2
    assert passes.overlap == 1
    assert driver.closed


def test_a_wake_between_passes_runs_a_pass_at_once() -> None:
    """With no pass in hand, a wake starts one within 0.2 s (not at the next poll interval)."""
    passes = Passes()
    stop = threading.Event()
    woken: list[float] = []

    def script(wake: Callable[[], None]) -> None:
        assert passes.first.wait(10)
        time.sleep(0.3)
        woken.append(time.monotonic())
        wake()
        time.sleep(0.5)
        stop.set()

    driver = Driver(script)
    run_forever(passes, 60, stop, watch=driver.watch)
    assert driver.errors == []
    assert len(passes.starts) == 2
    assert 0 <= passes.starts[1] - woken[0] < 0.2


def test_a_storm_of_wakes_never_runs_passes_side_by_side_and_loses_none() -> None:
    """Wakes from 4 threads for 1 s: passes one at a time, back to back, one more after the last wake."""
    passes = Passes(duration=0.05)
    stop = threading.Event()
    last: list[float] = []

    def script(wake: Callable[[], None]) -> None:
        assert passes.first.wait(10)
        until = time.monotonic() + 1.0

        def hammer() -> None:
            while time.monotonic() < until:
                wake()
                time.sleep(0.001)

        threads = [threading.Thread(target=hammer) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        last.append(time.monotonic())
        time.sleep(0.5)
        stop.set()

    driver = Driver(script)
    run_forever(passes, 60, stop, watch=driver.watch)
    assert driver.errors == []
    assert passes.overlap == 1
    assert 10 <= len(passes.starts) <= 30, len(passes.starts)  # ~1 s / 0.05 s, coalesced
    assert passes.starts[-1] >= last[0] - 0.06  # the last wakes were not lost
    gaps = [b - a for a, b in itertools.pairwise(passes.ends[:-1])]
    assert max(gaps) < 0.2, gaps


def test_wakes_are_ignored_while_passes_fail() -> None:
    """After a failed pass, wakes don't shorten the backoff: the next pass still waits the retry delay."""
    interval = 0.5
    passes = Passes(ok=False)
    stop = threading.Event()

    def script(wake: Callable[[], None]) -> None:
        assert passes.first.wait(10)
        until = time.monotonic() + 1.2
        while time.monotonic() < until:
            wake()
            time.sleep(0.02)
        stop.set()

    driver = Driver(script)
    run_forever(passes, interval, stop, watch=driver.watch)
    assert driver.errors == []
    gaps = [b - a for a, b in itertools.pairwise(passes.starts)]
    assert len(passes.starts) in (2, 3), gaps  # t0, t0 + 0.5 (then t0 + 1.5, after the stop)
    assert interval - 0.02 <= gaps[0] <= interval + 0.12, gaps


# --- `mailbot run` as a process ----------------------------------------------------------------------------


class Stderr:
    """Collects a process's stderr lines in a thread (the pipe must be drained while it runs)."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        assert proc.stderr is not None
        self._stream = proc.stderr
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for line in self._stream:
            self.lines.append(line)

    def wait_for(self, text: str, timeout: float) -> bool:
        """Whether a line containing `text` appeared within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in self.lines):
                return True
            time.sleep(0.02)
        return False

    def text(self) -> str:
        """Everything so far (after the process ended: everything)."""
        self._thread.join(5)
        return "".join(self.lines)


def wait_for_replies(sink: SmtpSink, count: int, timeout: float) -> float | None:
    """Seconds until the sink holds `count` replies, or None after `timeout`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if len(sink.messages) >= count:
            return time.monotonic() - started
        time.sleep(0.02)
    return None


def run_with_slow_polling(config_file: Path, idle_setting: str) -> tuple[subprocess.Popen[str], Stderr]:
    """`mailbot run` polling only every 300 s, with `[imap] idle = ...` as given."""
    text = config_file.read_text().replace("poll_interval = 1\n", "poll_interval = 300\n")
    text = text.replace("[imap]\n", f"[imap]\nidle = {idle_setting}\n")
    config_file.write_text(text)
    proc = mailbot(config_file, "run")
    return proc, Stderr(proc)


def stop_cleanly(proc: subprocess.Popen[str], stderr: Stderr) -> str:
    """SIGTERM; the process exits 0 within 10 s and says so; returns its stderr."""
    proc.send_signal(signal.SIGTERM)
    started = time.monotonic()
    proc.wait(timeout=15)
    err = stderr.text()
    assert time.monotonic() - started < 10, err
    assert proc.returncode == 0, err
    assert "mailbot stopped" in err
    assert "Traceback" not in err
    return err


def test_run_answers_new_mail_within_seconds_with_idle_though_polling_waits_300_s(
    dovecot_server: Dovecot, imap_account: ImapAccount, smtp_sink: SmtpSink, config_file: Path
) -> None:
    """poll_interval = 300: a mail appended while `run` waits is answered within 3 s (IDLE woke it)."""
    first, second = build_corpus(registrations=2, repeats=0, unrelated=0, auto_replies=0)
    deliver(dovecot_server, imap_account, [first])
    proc, stderr = run_with_slow_polling(config_file, "true")
    try:
        assert wait_for_replies(smtp_sink, 1, 30) is not None, stderr.text()
        assert stderr.wait_for(
            "waiting for new mail with IMAP IDLE (polling every 300 s as a safety net)", 10
        )
        time.sleep(1.0)  # the start-up passes are over: only IDLE can bring the next one before 300 s
        deliver(dovecot_server, imap_account, [second])
        took = wait_for_replies(smtp_sink, 2, 3.0)
        assert took is not None, stderr.lines
        assert smtp_sink.messages[1].rcpt_tos[0].lower() == second.sender.lower()
        stop_cleanly(proc, stderr)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_run_with_idle_false_waits_for_the_poll_interval(
    dovecot_server: Dovecot, imap_account: ImapAccount, smtp_sink: SmtpSink, config_file: Path
) -> None:
    """`idle = false`: no IDLE watcher; a mail appended after the first pass is not answered within 3 s."""
    first, second = build_corpus(registrations=2, repeats=0, unrelated=0, auto_replies=0)
    deliver(dovecot_server, imap_account, [first])
    proc, stderr = run_with_slow_polling(config_file, "false")
    try:
        assert wait_for_replies(smtp_sink, 1, 30) is not None, stderr.text()
        deliver(dovecot_server, imap_account, [second])
        assert wait_for_replies(smtp_sink, 2, 3.0) is None
        err = stop_cleanly(proc, stderr)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "IDLE" not in err


def test_run_once_never_starts_the_idle_watcher(config_file: Path) -> None:
    """`run --once` (idle = true by default) makes its pass and exits without an IDLE connection."""
    code, _, err = invoke(config_file, "run", "--once")
    assert code == 0, err
    assert "IDLE" not in err
    assert not any(thread.name == "imap-idle" for thread in threading.enumerate())
