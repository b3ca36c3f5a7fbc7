"""Embedded servers on loopback for `mailbot demo` and the tests: an aiosmtpd SMTP sink and pymap IMAP."""

from __future__ import annotations

import imaplib
import importlib.util
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

try:
    from aiosmtpd.controller import Controller
except ModuleNotFoundError:  # installed with the [demo] extra; missing_extra() says so instead of a traceback
    Controller = None  # type: ignore[misc,assignment]

DEMO_EXTRA = "pip install 'mailbot[demo]'"


def missing_extra() -> str | None:
    """One line saying how to install the demo's servers if they are missing, else None."""
    missing = [name for name in ("aiosmtpd", "pymap") if not _importable(name)]
    if not missing:
        return None
    return f"the demo's servers ({', '.join(missing)}) are not installed: {DEMO_EXTRA}"


def _importable(name: str) -> bool:
    if name == "aiosmtpd":
        return Controller is not None
    try:
        return importlib.util.find_spec(name) is not None
    except ValueError:  # sys.modules[name] is None: the import is blocked
        return False


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on `host` that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class ReceivedMail:
    """One message the sink accepted: envelope and content."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    mail_options: tuple[str, ...] = ()  # the MAIL FROM parameters, e.g. ("SMTPUTF8", "BODY=8BITMIME")

    def message(self) -> EmailMessage:
        """The content parsed with the modern email policy."""
        msg = message_from_bytes(self.data, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        return msg


@dataclass
class _SinkHandler:
    """aiosmtpd handler: store each message, or answer with a configured failure."""

    received: list[ReceivedMail] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    fail_with: str | None = None  # e.g. "451 4.3.0 try later" to simulate an outage
    refused: dict[str, str] = field(default_factory=dict)  # recipient -> the answer to its RCPT
    sender_refused: str | None = None  # the answer to every MAIL FROM, e.g. "550 5.7.1 not allowed"

    async def handle_MAIL(  # aiosmtpd's hook name and arguments
        self,
        server: Any,  # noqa: ARG002
        session: Any,  # noqa: ARG002
        envelope: Any,
        address: str,
        mail_options: list[str],
    ) -> str:
        if self.sender_refused:
            return self.sender_refused
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(  # aiosmtpd's hook name and arguments
        self,
        server: Any,  # noqa: ARG002
        session: Any,  # noqa: ARG002
        envelope: Any,
        address: str,
        rcpt_options: list[str],  # noqa: ARG002
    ) -> str:
        refusal = self.refused.get(address)
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: ARG002 (aiosmtpd's hook name)
        if self.fail_with:
            return self.fail_with
        content = envelope.original_content or envelope.content
        mail = ReceivedMail(
            envelope.mail_from, tuple(envelope.rcpt_tos), bytes(content), tuple(envelope.mail_options)
        )
        with self.lock:
            self.received.append(mail)
        return "250 2.0.0 OK"


class SmtpSink:
    """An aiosmtpd SMTP server on loopback that keeps every message it accepts."""

    def __init__(self, host: str = "127.0.0.1", port: int | None = None, *, smtputf8: bool = True) -> None:
        self.host = host
        self.port = port or free_port(host)
        self._handler = _SinkHandler()
        self._controller = Controller(  # smtputf8=False: a server without SMTPUTF8 (RFC 6531), ASCII only
            self._handler, hostname=host, port=self.port, enable_SMTPUTF8=smtputf8, ready_timeout=10
        )

    def start(self) -> SmtpSink:
        """Start serving; returns self."""
        self._controller.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self._controller.stop()

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def count(self) -> int:
        """How many messages were accepted so far (without copying them)."""
        with self._handler.lock:
            return len(self._handler.received)

    @property
    def messages(self) -> list[ReceivedMail]:
        """A snapshot of what was accepted so far, in order."""
        with self._handler.lock:
            return list(self._handler.received)

    def clear(self) -> None:
        """Forget what was accepted."""
        with self._handler.lock:
            self._handler.received.clear()

    def refuse_sender(self, reply: str | None) -> None:
        """Answer every MAIL FROM with this SMTP reply; None accepts again."""
        self._handler.sender_refused = reply

    def refuse_recipient(self, address: str, reply: str) -> None:
        """Answer RCPT TO for this address with this SMTP reply (e.g. '550 5.1.1 no such user')."""
        self._handler.refused[address] = reply

    def fail_with(self, reply: str | None) -> None:
        """Answer DATA with this SMTP reply (e.g. '451 ...' or '550 ...'); None accepts again."""
        self._handler.fail_with = reply


class EmbeddedImap:
    """pymap's in-memory ("dict") IMAP server as a subprocess on loopback, one user, no TLS."""

    def __init__(self, user: str = "demo", password: str = "demo", host: str = "127.0.0.1") -> None:  # noqa: S107 (a throwaway loopback demo account)
        self.host, self.user, self.password = host, user, password
        self.port = free_port(host)
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 15.0) -> EmbeddedImap:
        """Start pymap and wait until it accepts connections."""
        code = "import sys; from pymap.main import main; sys.argv[0] = 'pymap'; main()"
        self._proc = subprocess.Popen(  # noqa: S603 (our own interpreter, fixed arguments)
            [
                sys.executable,
                "-c",
                code,
                "--host",
                self.host,
                "--port",
                str(self.port),
                "--no-tls",
                "dict",
                "--demo-user",
                self.user,
                "--demo-password",
                self.password,
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"pymap exited with {self._proc.returncode}")
            try:
                socket.create_connection((self.host, self.port), timeout=0.2).close()
            except OSError:
                time.sleep(0.05)
            else:
                return self
        self.stop()
        raise RuntimeError("pymap did not start in time")

    def stop(self) -> None:
        """Stop pymap (its mail is gone with it)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def __enter__(self) -> EmbeddedImap:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def deliver(self, items: list[tuple[bytes, datetime]], folder: str = "INBOX") -> None:
        """Put messages into the folder with the given INTERNALDATEs, in order (one APPEND each)."""
        client = imaplib.IMAP4(self.host, self.port, timeout=30)
        try:
            client.login(self.user, self.password)
            for raw, when in items:
                client.append(folder, "", imaplib.Time2Internaldate(when), raw)
        finally:
            client.logout()
