"""The only APScheduler import: triggers passes, holds no logic."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from types import FrameType

from apscheduler.schedulers.background import BackgroundScheduler

log = logging.getLogger("mailbot")


def run_forever(
    job: Callable[[], None], interval: float, stop: threading.Event, moments: Sequence[datetime] = ()
) -> None:
    """Run `job` now and every `interval` seconds until SIGTERM/SIGINT; then let the job in hand finish.

    The job runs at most once at a time, and missed runs are coalesced into one (max_instances=1,
    coalesce=True), so a slow pass never piles up behind itself. `moments` add one pass each.
    """

    def on_signal(signum: int, frame: FrameType | None) -> None:  # noqa: ARG001
        log.info("received %s: stopping after the message in hand", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    scheduler = BackgroundScheduler(timezone=UTC)
    scheduler.add_job(
        job,
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
        scheduler.shutdown(wait=True)
