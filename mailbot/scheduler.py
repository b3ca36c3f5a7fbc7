"""The only APScheduler import: triggers passes (backing off while they fail), holds no logic."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from types import FrameType

from apscheduler.schedulers.background import BackgroundScheduler

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


def run_forever(
    job: Callable[[], bool],
    interval: float,
    stop: threading.Event,
    moments: Sequence[datetime] = (),
    grace: float = STOP_GRACE,
) -> None:
    """Run `job` now and every `interval` seconds until SIGTERM/SIGINT; then let the job in hand finish.

    `job` returns whether the pass succeeded: after a failed one the next waits `retry_delay()` (so a
    server that is down isn't hammered), and the first success brings back the normal interval. The job
    runs at most once at a time, and missed runs are coalesced into one (max_instances=1, coalesce=True),
    so a slow pass never piles up behind itself. `moments` add one pass each.

    After a stop signal the pass in hand gets `grace` seconds to finish (it stops after the message in
    hand). A pass still blocked on a network read after that (a stalled server, up to its timeout) is
    abandoned with a hard exit 0: only committed work is in the database, and the next start completes it.
    """
    failures = 0
    in_pass = threading.Lock()

    def on_signal(signum: int, frame: FrameType | None) -> None:  # noqa: ARG001
        log.info("received %s: stopping after the message in hand", signal.Signals(signum).name)
        stop.set()

    def guarded() -> None:
        nonlocal failures
        with in_pass:
            if stop.is_set():
                return  # no new pass after a stop signal
            try:
                ok = job()
            except Exception as exc:  # noqa: BLE001 (a failed pass is retried, never fatal)
                log.error("pass failed: %s: %s", type(exc).__name__, " ".join(str(exc).split()))  # noqa: TRY400
                ok = False
            if ok:
                failures = 0  # the interval trigger carries on from this run: back to poll_interval
                return
            failures += 1
            delay = retry_delay(interval, failures)
            log.info("next pass in %.0f s (%s failed in a row)", delay, failures)
            # Fails only while the scheduler shuts down: then there is nothing to reschedule.
            with contextlib.suppress(Exception):
                scheduler.modify_job("poll", next_run_time=datetime.now(UTC) + timedelta(seconds=delay))

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    scheduler = BackgroundScheduler(timezone=UTC)
    scheduler.add_job(
        guarded,
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

    def poll_now() -> None:  # moves the poll job forward instead of running a second pass beside it
        scheduler.modify_job("poll", next_run_time=datetime.now(UTC))

    for number, moment in enumerate(sorted(m for m in moments if m > now)):
        scheduler.add_job(poll_now, "date", run_date=moment, id=f"due-{number}", misfire_grace_time=None)
    scheduler.start()
    try:
        while not stop.wait(1.0):
            pass
    finally:
        scheduler.shutdown(wait=False)
        finished = in_pass.acquire(timeout=grace)
        if finished:
            in_pass.release()
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
