"""IMAP IDLE (RFC 2177): wait for new mail and wake the desk at once; polling stays as the safety net."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import imapclient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError, LoginError

from mailbot.adapters.tls import refused, tls_context
from mailbot.errors import MailbotError

log = logging.getLogger("mailbot")

REISSUE_AFTER = 25 * 60  # seconds: RFC 2177 asks clients to re-issue IDLE at least every 29 minutes
WAIT_STEP = 1.0  # seconds per idle_check, so a stop request is noticed quickly
STEADY_AFTER = 60.0  # seconds in IDLE after which a lost connection reconnects at once (else: growing pause)


class IdleWatcher:
    """A thread that keeps one IMAP connection in IDLE on the folder and calls `wake()` on new mail.

    The connection is separate from the one a pass uses (IDLE blocks it). When the server drops the
    connection, the watcher reconnects with a growing pause (1 s ... 60 s); when the server has no IDLE,
    the watcher ends and polling alone carries on. Each time it enters IDLE on a new connection it wakes
    the desk once: mail that arrived before that connection's EXAMINE (while it was down, or between the
    first pass and the start) is reported by no one else.
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
        poll_interval: float | None = None,  # only for the log lines: the safety net's period
        token: Callable[[], str] | None = None,  # access tokens: log in with SASL XOAUTH2, not the password
    ) -> None:
        self.token = token
        self.host, self.port, self.security = host, port, security
        self.username, self.password, self.folder = username, password, folder
        self.timeout, self.wake, self.cafile = timeout, wake, cafile
        self.stop = threading.Event()
        self.supported: bool | None = None  # None: not known yet
        self.poll_interval = poll_interval
        self._announced = False
        self._thread = threading.Thread(target=self._run, name="imap-idle", daemon=True)

    def start(self) -> IdleWatcher:
        """Start watching in the background."""
        self._thread.start()
        return self

    def close(self, timeout: float = 5.0) -> None:
        """Stop watching (returns within about `timeout` seconds)."""
        self.stop.set()
        self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        """Whether the watcher still runs (False after close(), or when the server has no IDLE)."""
        return self._thread.is_alive()

    def _polling(self) -> str:
        return f"every {self.poll_interval:g} s" if self.poll_interval else "every poll_interval"

    def _access_token(self) -> str | None:
        """The XOAUTH2 token if the login uses one; failing to get one is retried like a refused login."""
        if self.token is None:
            return None
        try:
            return self.token()
        except MailbotError as exc:
            raise LoginError(str(exc)) from exc

    def _connect(self) -> imapclient.IMAPClient:
        access_token = self._access_token()  # before connecting: a slow token service holds no connection
        client = imapclient.IMAPClient(
            self.host,
            port=self.port,
            ssl=self.security == "tls",
            ssl_context=tls_context(self.cafile) if self.security != "none" else None,
            timeout=self.timeout,
        )
        if self.security == "starttls":
            client.starttls(tls_context(self.cafile))
        if access_token is None:
            client.login(self.username, self.password)
        else:
            try:
                client.oauth2_login(self.username, access_token)
            except LoginError:
                assert self.token is not None
                refused(self.token, access_token)  # the next attempt logs in with a new token
                raise
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
            connected = time.monotonic()
            lost = ""
            try:
                self.supported = client.has_capability("IDLE")
                if not self.supported:
                    log.info("IDLE: the server has no IDLE; polling %s only", self._polling())
                    return
                self._idle(client)
            except (OSError, IMAPClientError) as exc:
                lost = " ".join(str(exc).split()) or type(exc).__name__
            finally:
                try:
                    client.logout()
                except (OSError, IMAPClientError):
                    client.shutdown()
            if lost:
                # A server that drops us right after each login must not be hammered: the pause grows
                # unless the connection had been steady for a while.
                if time.monotonic() - connected >= STEADY_AFTER:
                    pause = 1.0
                log.warning("IDLE: connection lost (%s); reconnecting in %.0f s", lost, pause)
                self.stop.wait(pause)
                pause = min(60.0, pause * 2)

    def _idle(self, client: imapclient.IMAPClient) -> None:
        """IDLE until stopped, waking the desk on EXISTS/RECENT; re-issued every REISSUE_AFTER seconds."""
        client.idle()
        self.wake()  # mail that came before this connection's EXAMINE (see the class docstring)
        if not self._announced:
            self._announced = True
            log.info("waiting for new mail with IMAP IDLE (polling %s as a safety net)", self._polling())
        while True:
            started = time.monotonic()
            while time.monotonic() - started < REISSUE_AFTER:
                if self.stop.is_set():
                    client.idle_done()
                    return
                responses = client.idle_check(timeout=WAIT_STEP)
                if not responses and _dropped(client.socket()):
                    # idle_check() swallows EOF and resets and returns nothing, at once, every time
                    raise IMAPClientAbortError("the server closed the connection")
                if _new_mail(responses):
                    self.wake()
            # RFC 2177: a server may drop a client idle for 30 minutes. What came since the last check
            # arrives with the end of IDLE.
            _, responses = client.idle_done()
            if _new_mail(responses):
                self.wake()
            client.idle()


def _new_mail(responses: list[Any]) -> bool:
    """Whether IDLE responses report new messages (`* n EXISTS` or `* n RECENT`)."""
    return any(isinstance(r, tuple) and len(r) > 1 and r[1] in (b"EXISTS", b"RECENT") for r in responses)


def _dropped(sock: socket.socket) -> bool:
    """Whether the peer closed or reset the connection (peeking at the TCP stream, consuming nothing)."""
    try:
        # A plain socket on a duplicate descriptor: an SSL socket refuses recv() flags.
        with socket.socket(fileno=os.dup(sock.fileno())) as raw:
            return raw.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False  # open, nothing to read
    except OSError:
        return True  # reset, or already closed
