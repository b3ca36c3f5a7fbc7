"""IMAP IDLE (RFC 2177): wait for new mail and wake the desk at once; polling stays as the safety net."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import imapclient
from imapclient.exceptions import IMAPClientError

from mailbot.adapters.imap import tls_context

log = logging.getLogger("mailbot")

REISSUE_AFTER = 25 * 60  # seconds: RFC 2177 asks clients to re-issue IDLE at least every 29 minutes
WAIT_STEP = 1.0  # seconds per idle_check, so a stop request is noticed quickly


class IdleWatcher:
    """A thread that keeps one IMAP connection in IDLE on the folder and calls `wake()` on new mail.

    The connection is separate from the one a pass uses (IDLE blocks it). When the server drops the
    connection, the watcher reconnects with a growing pause (1 s ... 60 s); when the server has no IDLE,
    the watcher ends and polling alone carries on.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int,
        security: str,
        username: str,
        password: str,
        folder: str,
        timeout: float,
        wake: Callable[[], None],
        cafile: str | None = None,
    ) -> None:
        self.host, self.port, self.security = host, port, security
        self.username, self.password, self.folder = username, password, folder
        self.timeout, self.wake, self.cafile = timeout, wake, cafile
        self.stop = threading.Event()
        self.supported: bool | None = None  # None: not known yet
        self._thread = threading.Thread(target=self._run, name="imap-idle", daemon=True)

    def start(self) -> IdleWatcher:
        """Start watching in the background."""
        self._thread.start()
        return self

    def close(self, timeout: float = 5.0) -> None:
        """Stop watching (returns within about `timeout` seconds)."""
        self.stop.set()
        self._thread.join(timeout)

    def _connect(self) -> imapclient.IMAPClient:
        client = imapclient.IMAPClient(
            self.host,
            port=self.port,
            ssl=self.security == "tls",
            ssl_context=tls_context(self.cafile) if self.security != "none" else None,
            timeout=self.timeout,
        )
        if self.security == "starttls":
            client.starttls(tls_context(self.cafile))
        client.login(self.username, self.password)
        client.select_folder(self.folder, readonly=True)  # EXAMINE: IDLE must never change flags
        return client

    def _run(self) -> None:
        pause = 1.0
        while not self.stop.is_set():
            try:
                client = self._connect()
            except (OSError, IMAPClientError) as exc:
                log.warning(
                    "IDLE: cannot connect (%s); retrying in %.0f s", " ".join(str(exc).split()), pause
                )
                self.stop.wait(pause)
                pause = min(60.0, pause * 2)
                continue
            try:
                self.supported = client.has_capability("IDLE")
                if not self.supported:
                    log.info("IDLE: the server has no IDLE; polling every poll_interval only")
                    return
                pause = 1.0
                self._idle(client)
            except (OSError, IMAPClientError) as exc:
                log.warning("IDLE: connection lost (%s); reconnecting", " ".join(str(exc).split()))
            finally:
                try:
                    client.logout()
                except (OSError, IMAPClientError):
                    client.shutdown()

    def _idle(self, client: imapclient.IMAPClient) -> None:
        """IDLE until stopped, waking the desk on EXISTS/RECENT; re-issued every REISSUE_AFTER seconds."""
        while not self.stop.is_set():
            client.idle()
            started = time.monotonic()
            try:
                while not self.stop.is_set() and time.monotonic() - started < REISSUE_AFTER:
                    responses = client.idle_check(timeout=WAIT_STEP)
                    if any(
                        isinstance(r, tuple) and len(r) > 1 and r[1] in (b"EXISTS", b"RECENT")
                        for r in responses
                    ):
                        self.wake()
            finally:
                client.idle_done()
