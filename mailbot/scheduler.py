"""The only APScheduler import: triggers passes, holds no logic."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from types import FrameType

from apscheduler.schedulers.background import BackgroundScheduler

log = logging.getLogger("mailbot")


def run_forever(job: Callable[[], None], interval: float, stop: threading.Event) -> None:
    """Run `job` now and every `interval` seconds until SIGTERM/SIGINT; then let the job in hand finish.

    The job runs at most once at a time, and missed runs are coalesced into one (max_instances=1,
    coalesce=True), so a slow pass never piles up behind itself.
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
    scheduler.start()
    try:
        while not stop.wait(1.0):
            pass
    finally:
        scheduler.shutdown(wait=True)
