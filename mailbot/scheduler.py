"""The only APScheduler import: triggers passes (backing off while they fail), holds no logic."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import Protocol

from apscheduler.schedulers.background import BackgroundScheduler

from mailbot.redact import describe_error

log = logging.getLogger("mailbot")

MAX_BACKOFF = 15 * 60.0  # seconds: the longest wait after failed passes (or 10 poll intervals, if shorter)
STOP_GRACE = 8.0  # seconds the pass in hand gets after SIGTERM (docker stop kills after 10)


def retry_delay(interval: float, failures: int) -> float:
    """Seconds to the next pass after `failures` failed passes in a row: interval, 2x, 4x ... capped.

    The cap is 10 poll intervals, at most 15 minutes (never less than one interval).
    """
    if failures <= 0:
        return interval
    cap = max(interval, min(MAX_BACKOFF, 10 * interval))
    return min(cap, interval * float(2 ** min(failures - 1, 32)))


class Closeable(Protocol):
    """Something running beside the scheduler until it is closed (the IMAP IDLE watcher)."""

    def close(self) -> None:
        """Stop; return within a few seconds."""


Wake = Callable[[], None]


class _Passes:
    """Runs the job one pass at a time, counts failures, and turns requests into passes without losing any.

    `running`, `queued` and `pending` change together under one lock: a request either finds a pass in
    hand (which then runs one more pass after itself) or starts one, never falls between the two.
    """

    def __init__(self, job: Callable[[], bool], interval: float, stop: threading.Event) -> None:
        self.job, self.interval, self.stop = job, interval, stop
        self.scheduler = BackgroundScheduler(timezone=UTC)
        self.failures = 0  # failed passes in a row
        self.in_pass = threading.Lock()  # held while passes run: the stop path waits for it
        self._state = threading.Lock()
        self._running = False  # a pass (or a pass and its extra passes) is in hand
        self._queued = False  # a pass was requested and hasn't started yet
        self._pending = False  # a pass was requested while one ran: run one more right after it

    def run(self) -> None:
        """A pass, plus one more while requests came during the last one; skipped while a pass is in hand."""
        with self._state:
            if self._running:
                return  # the pass in hand covers this tick; a request during it is remembered
            self._running, self._queued, self._pending = True, False, False  # covers every request so far
        try:
            with self.in_pass:
                while True:
                    ok = not self.stop.is_set() and self._one()  # no new pass after a stop signal
                    with self._state:
                        if not (ok and self._pending and not self.stop.is_set()):
                            self._running = self._pending = False  # together: from now on, requests start one
                            return
                        self._pending = False
                    log.debug("mail arrived during the pass: one more pass")
        finally:
            with self._state:
                self._running = False

    def _one(self) -> bool:
        try:
            ok = self.job()
        except Exception as exc:  # noqa: BLE001 (a failed pass is retried, never fatal)
            log.error("pass failed: %s", describe_error(exc))  # noqa: TRY400
            ok = False
        if ok:
            self.failures = 0  # the interval trigger carries on from this run: back to poll_interval
            return True
        self.failures += 1
        delay = retry_delay(self.interval, self.failures)
        log.info("next pass in %.0f s (%s failed in a row)", delay, self.failures)
        # Fails only while the scheduler shuts down: then there is nothing to reschedule.
        with contextlib.suppress(Exception):
            self.scheduler.modify_job("poll", next_run_time=datetime.now(UTC) + timedelta(seconds=delay))
        return False

    def request(self) -> None:
        """A pass as soon as possible, beside the interval: now, or right after the pass in hand."""
        with self._state:
            if self._running:
                self._pending = True
                return
            if self._queued:
                return
            self._queued = True
        # A one-off job of its own, not the interval job moved forward: a job whose last run is still
        # finishing is skipped as "max instances reached", and the request would be lost.
        with contextlib.suppress(Exception):  # only while the scheduler shuts down
            self.scheduler.add_job(self.run, misfire_grace_time=None)

    def wake(self) -> None:
        """New mail: a pass now, unless passes fail (then the backoff decides: no hammering on each mail)."""
        if not self.stop.is_set() and not self.failures:
            self.request()


def run_forever(
    job: Callable[[], bool],
    interval: float,
    stop: threading.Event,
    moments: Sequence[datetime] = (),
    grace: float = STOP_GRACE,
    *,
    watch: Callable[[Wake], Closeable] | None = None,
) -> None:
    """Run `job` now and every `interval` seconds until SIGTERM/SIGINT; then let the job in hand finish.

    `job` returns whether the pass succeeded: after a failed one the next waits `retry_delay()` (so a
    server that is down isn't hammered), and the first success brings back the normal interval. The job
    runs at most once at a time, and missed runs are coalesced into one (max_instances=1, coalesce=True),
    so a slow pass never piles up behind itself. `moments` add one pass each.

    `watch(wake)` starts something (the IMAP IDLE watcher) that calls `wake()` on new mail; it is closed on
    stop. A wake runs a pass at once; wakes during a pass run one more pass right after it (one for all of
    them: it sees every mail delivered before it starts). While passes fail, wakes are ignored: the backoff
    holds. The interval passes go on as the safety net.

    After a stop signal the pass in hand gets `grace` seconds to finish (it stops after the message in
    hand). A pass still blocked on a network read after that (a stalled server, up to its timeout) is
    abandoned with a hard exit 0: only committed work is in the database, and the next start completes it.
    """
    passes = _Passes(job, interval, stop)

    def on_signal(signum: int, frame: FrameType | None) -> None:  # noqa: ARG001
        log.info("received %s: stopping after the message in hand", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    scheduler = passes.scheduler
    scheduler.add_job(
        passes.run,
        "interval",
        seconds=interval,
        next_run_time=datetime.now(UTC),
        max_instances=1,
        coalesce=True,
        id="poll",
        misfire_grace_time=None,
    )
    # Extra passes exactly when an event's access data or reminder is due (the pass itself checks who is due,
    # so the database, not the scheduler, remembers what was sent: a restart neither skips nor repeats).
    now = datetime.now(UTC)
    for number, moment in enumerate(sorted(m for m in moments if m > now)):
        scheduler.add_job(
            passes.request, "date", run_date=moment, id=f"due-{number}", misfire_grace_time=None
        )
    scheduler.start()
    watcher: Closeable | None = None
    try:
        watcher = watch(passes.wake) if watch is not None else None
        while not stop.wait(1.0):
            pass
    finally:
        scheduler.shutdown(wait=False)
        deadline = time.monotonic() + grace
        closing = None
        if watcher is not None:  # closed beside the pass in hand: together they get `grace`
            closing = threading.Thread(target=watcher.close, name="close-watcher", daemon=True)
            closing.start()
        finished = passes.in_pass.acquire(timeout=grace)
        if finished:
            passes.in_pass.release()
        if closing is not None:
            closing.join(max(0.0, deadline - time.monotonic()))
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not finished:
        log.warning(
            "the pass is still waiting on a server %.0f s after the stop signal: exiting without it "
            "(only committed work is kept; the next start completes the rest)",
            grace,
        )
        logging.shutdown()
        os._exit(0)  # a thread blocked in a socket read can't be interrupted; docker would SIGKILL anyway
