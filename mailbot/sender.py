"""The sending process: `mailbot run` sends replies from a second process while the pass reads the next batch.

One Python process uses one core (the GIL). In a rush the pass (fetch, parse, decide, commit) and the sender
(SMTP, recording each accepted reply) each need most of a core, so the sender runs beside it, in a process of
its own. It only ever sends when the pass asks, and the pass waits for it before it ends: sending is still
part of the pass, under the pass's leader lock, and the watchdog sees every SMTP failure in the pass that met
it. The child dies with its parent (Linux PR_SET_PDEATHSIG), so a killed bot leaves at most the reply in
flight on each connection unrecorded, as before.

With SQLite it records each accepted reply in the sent journal first (mailbot/adapters/journal.py): the pass
holds SQLite's one write lock most of the time in a rush.

Protocol over a socket pair (multiprocessing.connection framing), parent to child: ("flush", leader) sends
what is due now; ("finish", leader) sends what is due, then answers with the pass's FlushReport (as a dict)
and starts the next pass's count; ("stop",) ends sending after the batch in hand. Child to parent: one
answer per "finish".
"""

from __future__ import annotations

import ctypes
import gc
import logging
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import asdict
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mailbot.config import Config
from mailbot.errors import MailbotError
from mailbot.redact import describe_error

if TYPE_CHECKING:
    from mailbot.service import FlushReport

log = logging.getLogger("mailbot")

_PR_SET_PDEATHSIG = 1
_ANSWER_POLL = 0.2  # seconds between checks for a stop signal while the parent waits for the answer


class SenderError(MailbotError):
    """The sending process failed (or is gone); the pass counts as failed, the replies wait in the outbox."""


class SenderProcess:
    """The parent's handle on the sending process (see the module docstring)."""

    def __init__(self, config: Config, *, verbose: bool, stop: threading.Event) -> None:
        self.config = config
        self.verbose = verbose
        self.stop = stop
        self._conn: Connection | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._stop_sent = False

    def start(self) -> SenderProcess:
        """Start the child: `python -m mailbot.sender`, a fresh interpreter that inherits no threads or
        sockets but its end of a socket pair (multiprocessing's "spawn" would re-run the parent's main
        script). It gets the configuration over the pair.

        Call it from the main thread: the child dies when the thread that started it ends.
        """
        ours, theirs = socket.socketpair()
        package_root = str(Path(__file__).resolve().parents[1])  # the same mailbot as the parent's
        path = os.environ.get("PYTHONPATH")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([package_root, *([path] if path else [])])}
        with theirs:
            process = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
                [sys.executable, "-m", "mailbot.sender", str(theirs.fileno()), str(os.getpid())],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                env=env,
            )
        conn = Connection(ours.detach())
        conn.send((self.config, self.verbose))
        self._conn, self._process = conn, process
        self._stop_sent = False
        return self

    def request(self, leader: bool) -> None:
        """Send what is due now (a batch was committed); returns at once."""
        self._send(("flush", leader))

    def finish(self, leader: bool) -> FlushReport:
        """Send what is due, wait until it is sent, and return what the pass's sending did.

        After a stop signal nothing more is sent but the batch in hand (as in the pass's own thread).
        """
        self._forward_stop()
        self._send(("finish", leader))
        conn = self._conn
        assert conn is not None
        try:
            while not conn.poll(_ANSWER_POLL):
                self._forward_stop()
                if self._process is not None and self._process.poll() is not None:
                    conn.close()  # the answer will never come: recv raises
            answer: dict[str, Any] = conn.recv()
        except (EOFError, OSError) as exc:
            self.close()
            raise SenderError("the sending process ended unexpectedly; it is restarted") from exc
        crash = answer.pop("crash", "")
        if crash:
            raise SenderError(f"sending failed: {crash}")
        from mailbot.service import FlushReport  # noqa: PLC0415 (the parent starts us before it imports it)

        return FlushReport(**answer)

    def _forward_stop(self) -> None:
        if self.stop.is_set() and not self._stop_sent:
            self._send(("stop",))
            self._stop_sent = True

    def _send(self, message: tuple[object, ...]) -> None:
        if self._process is None or self._process.poll() is not None:
            self.close()
            self.start()
        assert self._conn is not None
        try:
            self._conn.send(message)
        except (BrokenPipeError, OSError) as exc:
            self.close()
            raise SenderError("the sending process ended unexpectedly; it is restarted") from exc

    def close(self) -> None:
        """Stop the child after the batch in hand (closing the pipe tells it) and wait for it a moment."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._process is not None:
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None


def _die_with_parent(parent: int) -> None:
    """Linux: the kernel kills this process when the parent dies, SIGKILL included."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(0)


def _main(argv: list[str]) -> None:
    """`python -m mailbot.sender FD PARENT_PID`: serve the parent over the socket FD."""
    _die_with_parent(int(argv[2]))
    conn = Connection(int(argv[1]))
    config, verbose = conn.recv()
    _serve(config, verbose, conn)


def _serve(config: Config, verbose: bool, conn: Connection) -> None:
    """The child's main loop: send when asked, answer each "finish" with the pass's report."""
    # The parent coordinates shutdown (it forwards SIGTERM as "stop"); Ctrl-C reaches the whole group.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    from mailbot.adapters.db import Database  # noqa: PLC0415 (the child's own composition root)
    from mailbot.bootstrap import build_desk  # noqa: PLC0415
    from mailbot.logs import configure_logging  # noqa: PLC0415
    from mailbot.service import FlushReport  # noqa: PLC0415

    configure_logging(verbose, config.bot.zone)
    stop = threading.Event()
    inbox: queue.SimpleQueue[tuple[Any, ...] | None] = queue.SimpleQueue()

    def read() -> None:
        try:
            while True:
                message = conn.recv()
                if message[0] == "stop":
                    stop.set()
                else:
                    inbox.put(message)
        except (EOFError, OSError):
            stop.set()
            inbox.put(None)

    threading.Thread(target=read, name="mailbot-sender-pipe", daemon=True).start()
    desk = build_desk(config, db=Database(config.database.url), stop=stop)  # the parent migrated it
    desk.record_to_journal = True  # SQLite: the pass holds the write lock most of the time (journal.py)
    gc.freeze()  # as in `mailbot run`: the cyclic GC skips what lives as long as the process
    total, crash = FlushReport(), ""
    while (message := inbox.get()) is not None:
        kind, leader = message
        while kind == "flush" and not inbox.empty():  # requests queued while sending: one flush for all
            nxt = inbox.get()
            if nxt is None:
                return
            kind, leader = nxt
        if not (total.stopped or crash or stop.is_set()):
            try:
                total.add(desk.flush_outbox(leader=leader))
            except Exception as exc:  # reported to the parent, which fails the pass
                log.debug("sending failed", exc_info=True)
                crash = describe_error(exc)
        if kind == "finish":
            conn.send({**asdict(total), "crash": crash})
            total, crash = FlushReport(), ""
    desk.db.dispose()


if __name__ == "__main__":
    _main(sys.argv)
