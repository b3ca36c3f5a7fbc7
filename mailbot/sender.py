"""The sending process of `mailbot run`: a multiprocessing child sends the outbox while the pass reads on."""

from __future__ import annotations

import contextlib
import gc
import logging
import multiprocessing
import os
import queue
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnProcess
from typing import TYPE_CHECKING, Literal

from mailbot.config import Config
from mailbot.errors import MailbotError
from mailbot.logs import configure_logging
from mailbot.redact import describe_error

if TYPE_CHECKING:
    from mailbot.service import Desk, FlushReport

log = logging.getLogger("mailbot")

ANSWER_POLL = 0.2  # seconds between checks for a stop signal (and a dead child) while the parent waits
CLOSE_WAIT = 10.0  # seconds close() gives the child to end after the batch in hand before it kills it

BuildDesk = Callable[[Config, threading.Event], "Desk"]  # the child's desk (bootstrap.sending_desk)


class SenderError(MailbotError):
    """The sending process failed (or is gone); the pass counts as failed, the replies wait in the outbox."""


@dataclass(frozen=True)
class Order:
    """What the parent asks: send what is due ("flush"), and report ("finish"), stop sending, or end."""

    kind: Literal["flush", "finish", "stop", "close"]
    leader: bool = False  # the pass holds the leader lock (its claims are recorded for the next one)


@dataclass(frozen=True)
class Answer:
    """The child's answer to "finish": what the pass's sending did, or why it failed."""

    report: FlushReport
    crash: str = ""


class SenderProcess:
    """The parent's handle on the sending process (docs/ARCHITECTURE.md, "The sending process")."""

    def __init__(
        self,
        config: Config,
        *,
        build: BuildDesk,
        new_report: Callable[[], FlushReport],
        verbose: bool,
        stop: threading.Event,
    ) -> None:
        self.config = config
        self.build = build  # pickled by reference: bootstrap.sending_desk
        self.new_report = new_report  # FlushReport
        self.verbose = verbose
        self.stop = stop
        self._conn: Connection | None = None
        self._process: SpawnProcess | None = None
        self._stop_sent = False

    def start(self) -> SenderProcess:
        """Start the child: a fresh interpreter (multiprocessing "spawn") holding its end of a pipe only."""
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        process = context.Process(
            target=serve,
            args=(theirs, self.config, self.build, self.new_report, self.verbose),
            name="mailbot-sender",
            daemon=True,
        )
        process.start()
        theirs.close()  # the child's end lives in the child alone: its EOF is the parent's end
        self._conn, self._process = ours, process
        self._stop_sent = False
        return self

    def request(self, leader: bool) -> None:
        """Send what is due now (a batch was committed); returns at once."""
        self._send(Order("flush", leader))

    def finish(self, leader: bool) -> FlushReport:
        """Send what is due, wait until it is sent, and return what the pass's sending did.

        After a stop signal nothing more is sent but the batch in hand (as in the pass's own thread).
        """
        self._forward_stop()
        self._send(Order("finish", leader))
        conn, process = self._conn, self._process
        assert conn is not None
        assert process is not None
        try:
            while not conn.poll(ANSWER_POLL):
                self._forward_stop()
                if not process.is_alive():
                    conn.close()  # the answer will never come: recv raises
            answer: Answer = conn.recv()
        except (EOFError, OSError) as exc:
            self.close()
            raise SenderError("the sending process ended unexpectedly; it is restarted") from exc
        if answer.crash:
            raise SenderError(f"sending failed: {answer.crash}")
        return answer.report

    def _forward_stop(self) -> None:
        if self.stop.is_set() and not self._stop_sent:
            self._send(Order("stop"))
            self._stop_sent = True

    def _send(self, order: Order) -> None:
        if self._process is None or not self._process.is_alive():
            self.close()
            self.start()
        assert self._conn is not None
        try:
            self._conn.send(order)
        except OSError as exc:
            self.close()
            raise SenderError("the sending process ended unexpectedly; it is restarted") from exc

    def close(self) -> None:
        """Stop the child after the batch in hand, wait for it a moment, kill it if it doesn't end."""
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.send(Order("close"))
            self._conn.close()
            self._conn = None
        if self._process is not None:
            self._process.join(CLOSE_WAIT)
            if self._process.is_alive():
                self._process.kill()
                self._process.join()
            self._process.close()
            self._process = None


def serve(
    conn: Connection, config: Config, build: BuildDesk, new_report: Callable[[], FlushReport], verbose: bool
) -> None:
    """The child: send when asked, answer each "finish" with the pass's report; end with the parent."""
    # A process group of its own: once the parent is gone the group is orphaned, and the kernel hangs up
    # (SIGHUP, then SIGCONT) a child that is stopped there and cannot read its pipe (POSIX job control).
    os.setpgid(0, 0)
    # The parent coordinates shutdown (it forwards SIGTERM and Ctrl-C as a "stop" order).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    configure_logging(verbose, config.bot.zone)
    stop = threading.Event()
    inbox: queue.SimpleQueue[Order | None] = queue.SimpleQueue()

    def read() -> None:
        try:
            while (order := conn.recv()).kind != "close":
                if order.kind == "stop":
                    stop.set()
                else:
                    inbox.put(order)
        except (EOFError, OSError):
            # The parent ended without a word (killed): end at once, as its kill would have ended us. At
            # most the reply in flight on each connection goes unrecorded and is sent again by the next run.
            os._exit(0)
        stop.set()  # "close": the batch in hand, then the end
        inbox.put(None)

    threading.Thread(target=read, name="mailbot-sender-pipe", daemon=True).start()
    desk = build(config, stop)
    desk.record_to_journal = True  # SQLite: the pass holds the write lock most of the time (journal.py)
    gc.freeze()  # as in `mailbot run`: the cyclic GC skips what lives as long as the process
    total, crash, closing = new_report(), "", False
    while not closing and (order := inbox.get()) is not None:
        while order.kind == "flush" and not inbox.empty():  # requests queued while sending: one flush for all
            queued = inbox.get()
            if queued is None:
                closing = True  # (stop is set: nothing more is sent)
                break
            order = queued
        if not (total.stopped or crash or stop.is_set()):
            try:
                total.add(desk.flush_outbox(leader=order.leader))
            except Exception as exc:  # reported to the parent, which fails the pass
                log.debug("sending failed", exc_info=True)
                crash = describe_error(exc)
        if order.kind == "finish":
            conn.send(Answer(total, crash))
            total, crash = new_report(), ""
    desk.db.dispose()
