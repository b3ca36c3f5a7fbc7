"""SMTP adapter around aiosmtplib: one persistent connection per batch; 4xx is temporary, 5xx permanent."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import re
import socket
import time
from collections.abc import Callable, Iterator, Sequence

import aiosmtplib
from aiosmtplib.email import quote_address
from aiosmtplib.typing import SMTPStatus

from mailbot.adapters.tls import refused, tls_context, xoauth2_string
from mailbot.core.pacing import Pacer, is_throttling
from mailbot.errors import MailbotError, TemporaryDeliveryError
from mailbot.ports import DeliveryResult, OutgoingMail

# A further connection only for every this many mails: a few replies go out over one connection, in the order
# they were queued, and no TLS handshake and login is spent on a connection with one or two mails to send.
MAILS_PER_CONNECTION = 10


class SmtpMailer:
    """Sends replies; the connection is opened per batch and kept for all its mails.

    `timeout` bounds the connect (with the greeting), the login, and each mail's transaction (MAIL, RCPT
    and DATA together: one timer per mail, not one per command): a server that accepts but never answers
    raises TemporaryDeliveryError after `timeout` seconds, never a hang.

    `pacer` spaces the mails' starts ([smtp] max_per_minute). A throttling answer slows it down and ends the
    batch: that mail is reported `throttled`, the rest not at all (the caller gives both back, in order),
    and so are the mails whose slot is past the pacer's deadline.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int,
        security: str,
        username: str | None,
        password: str | None,
        timeout: float,
        cafile: str | None = None,
        token: Callable[[], str] | None = None,  # access tokens: log in with SASL XOAUTH2, not the password
        connections: int = 1,
        pacer: Pacer | None = None,
    ) -> None:
        self.host, self.port, self.security = host, port, security
        self.username, self.password, self.timeout, self.cafile = username, password, timeout, cafile
        self.token = token
        self.connections = connections
        self.pacer = pacer or Pacer(0)

    def send_all(self, mails: Sequence[OutgoingMail], report: Callable[[DeliveryResult], None]) -> None:
        """Send each mail and report the server's answer right away; connection trouble raises."""
        if mails:
            asyncio.run(self._send_all(mails, report, _local_hostname()))

    async def _send_all(
        self, mails: Sequence[OutgoingMail], report: Callable[[DeliveryResult], None], local_hostname: str
    ) -> None:
        """Up to `connections` connections (one per MAILS_PER_CONNECTION mails) take the next mail as each
        becomes free.

        A connection that fails leaves its remaining mails to the others; connection trouble is raised
        only when some mail was not answered (those are retried later by the caller).
        """
        halt = asyncio.Event()  # a throttling answer or the pacer's deadline: no lane starts another mail
        queue: Iterator[OutgoingMail] = _until(halt, mails)
        answered = 0

        def counted(result: DeliveryResult) -> None:
            nonlocal answered
            answered += 1
            if result.throttled:
                self.pacer.throttled(time.monotonic())
                halt.set()
            elif result.accepted:
                self.pacer.accepted()
            report(result)

        lanes = max(1, min(self.connections, -(-len(mails) // MAILS_PER_CONNECTION)))
        outcomes = await asyncio.gather(
            *(self._lane(queue, counted, local_hostname, halt) for _ in range(lanes)), return_exceptions=True
        )
        errors = [o for o in outcomes if isinstance(o, BaseException)]
        for error in errors:
            if not isinstance(error, Exception):
                raise error  # KeyboardInterrupt, cancellation: as they are
        if any(isinstance(error, _Throttled) for error in errors):
            self.pacer.throttled(time.monotonic())  # the greeting or login said "slow down": slower next time
        errors = [error for error in errors if not isinstance(error, _Throttled)]
        if errors and answered < len(mails) and not halt.is_set():
            raise errors[0]

    async def _lane(
        self,
        queue: Iterator[OutgoingMail],
        report: Callable[[DeliveryResult], None],
        local_hostname: str,
        halt: asyncio.Event,
    ) -> None:
        """One connection sending mails from the shared queue until it is empty (or sending halts)."""
        smtp = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            local_hostname=local_hostname,
            timeout=self.timeout,
            use_tls=self.security == "tls",
            start_tls=self.security == "starttls",
            tls_context=tls_context(self.cafile) if self.security != "none" else None,
        )
        try:
            await smtp.connect()
            await self._login(smtp)
            if smtp.is_ehlo_or_helo_needed:
                await smtp.ehlo()
        except (OSError, aiosmtplib.SMTPException) as exc:
            answer = f"{exc.code} {exc.message}" if isinstance(exc, aiosmtplib.SMTPResponseException) else ""
            if is_throttling(answer):
                raise _Throttled(f"SMTP {self.host}:{self.port}: {_one_line(exc)}") from exc
            raise TemporaryDeliveryError(f"SMTP {self.host}:{self.port}: {_one_line(exc)}") from exc
        try:
            for mail in queue:
                start = self.pacer.slot(time.monotonic())
                if start is None:  # past the deadline: this and the rest wait for the next flush
                    halt.set()
                    break
                if (wait := start - time.monotonic()) > 0:
                    await asyncio.sleep(wait)
                if halt.is_set():  # another lane was throttled meanwhile
                    break
                report(await self._send_one(smtp, mail))
        finally:
            try:
                await smtp.quit()
            except (OSError, aiosmtplib.SMTPException):
                smtp.close()

    async def _login(self, smtp: aiosmtplib.SMTP) -> None:
        """Log in when a username is configured: with the password, or with SASL XOAUTH2 and a token."""
        if not self.username:
            return
        if self.token is None:
            await smtp.login(self.username, self.password or "")
            return
        try:
            token = await asyncio.to_thread(self.token)  # may run the token command: not on the event loop
        except MailbotError as exc:
            raise TemporaryDeliveryError(f"SMTP {self.host}:{self.port}: login: {_one_line(exc)}") from exc
        if smtp.is_ehlo_or_helo_needed:
            await smtp.ehlo()
        if "xoauth2" not in smtp.server_auth_methods:
            raise aiosmtplib.SMTPException("the server offers no AUTH XOAUTH2")
        initial = base64.b64encode(xoauth2_string(self.username, token).encode("utf-8"))
        answer = await smtp.execute_command(b"AUTH", b"XOAUTH2", initial)
        if answer.code == 334:
            # A refused token comes back as a challenge holding a JSON error; an empty line ends the exchange.
            answer = await smtp.execute_command(b"")
        if answer.code != 235:
            refused(self.token, token)  # the next batch logs in with a new token
            raise aiosmtplib.SMTPAuthenticationError(answer.code, answer.message)

    async def _send_one(self, smtp: aiosmtplib.SMTP, mail: OutgoingMail) -> DeliveryResult:
        if _needs_smtputf8(mail) and not smtp.supports_extension("smtputf8"):
            # RFC 6531: a non-ASCII local part can only go to a server that offers SMTPUTF8. Nothing is tried:
            # a failed reply for staff to see (`mailbot triage`), the registration stands.
            return DeliveryResult(
                mail.outbox_id,
                accepted=False,
                permanent=True,
                error=f"not sent: the address has a non-ASCII local part, which needs SMTPUTF8 (RFC 6531), "
                f"and {self.host}:{self.port} doesn't offer it",
            )
        try:
            async with asyncio.timeout(self.timeout):
                await _transaction(smtp, mail)
        except TimeoutError as exc:
            smtp.close()  # stopped mid-command: the connection can't be used again
            raise TemporaryDeliveryError(
                f"SMTP {self.host}:{self.port}: no answer within {self.timeout:g} s ([smtp] timeout)"
            ) from exc
        except aiosmtplib.SMTPResponseException as exc:
            error = f"{exc.code} {_one_line(exc.message)}"
            return DeliveryResult(
                mail.outbox_id,
                accepted=False,
                permanent=500 <= exc.code < 600,
                error=error,
                throttled=is_throttling(error),
            )
        except (aiosmtplib.SMTPNotSupported, ValueError) as exc:
            # This mail can't go through this server (an address that can't be quoted): refused for good,
            # and the connection is still usable for the rest of the batch.
            return DeliveryResult(mail.outbox_id, accepted=False, permanent=True, error=_one_line(exc))
        except (OSError, aiosmtplib.SMTPException) as exc:
            raise TemporaryDeliveryError(f"SMTP {self.host}:{self.port}: {_one_line(exc)}") from exc
        return DeliveryResult(mail.outbox_id, accepted=True)


class _Throttled(TemporaryDeliveryError):
    """The server answered the connection or login with a throttling answer: slow down, nothing failed."""


def _until(halt: asyncio.Event, mails: Sequence[OutgoingMail]) -> Iterator[OutgoingMail]:
    """The mails in order, until sending halts."""
    for mail in mails:
        if halt.is_set():
            return
        yield mail


async def _transaction(smtp: aiosmtplib.SMTP, mail: OutgoingMail) -> None:
    """MAIL, RCPT and DATA for the one recipient, as `sendmail` sends them but without parsing each address
    again for every mail (the sender is the same for all) and without a second pass over the message for
    SIZE (a reply's lines already end in CRLF). A refusal raises and resets the envelope (RSET), so the
    connection goes on with the next mail. The connection has greeted the server (EHLO) already."""
    options = [f"SIZE={len(mail.data)}".encode()] if smtp.supports_extension("size") else []
    if _needs_smtputf8(mail):  # the server offers it (checked by the caller): RFC 6531 §3.4
        options.append(b"SMTPUTF8")
        if smtp.supports_extension("8bitmime"):
            options.append(b"BODY=8BITMIME")  # the header holds UTF-8 (RFC 6532)
    try:
        answer = await smtp.execute_command(
            b"MAIL", b"FROM:" + _quoted(mail.envelope_from), *options, timeout=None
        )
        if answer.code != SMTPStatus.completed:
            raise aiosmtplib.SMTPSenderRefused(answer.code, answer.message, mail.envelope_from)
        answer = await smtp.execute_command(b"RCPT", b"TO:" + _quoted(mail.recipient), timeout=None)
        if answer.code not in (SMTPStatus.completed, SMTPStatus.will_forward):
            raise aiosmtplib.SMTPRecipientRefused(answer.code, answer.message, mail.recipient)
        await smtp.data(mail.data, timeout=None)
    except aiosmtplib.SMTPResponseException:
        with contextlib.suppress(ConnectionError, aiosmtplib.SMTPResponseException):
            await smtp.rset()
        raise


def _needs_smtputf8(mail: OutgoingMail) -> bool:
    """Whether the envelope or the header holds UTF-8: a non-ASCII local part (an IDN domain alone is written
    in A-labels when the reply is composed, so it never needs SMTPUTF8)."""
    return not (mail.recipient.isascii() and mail.envelope_from.isascii() and mail.data.isascii())


@functools.lru_cache(maxsize=64)
def _quoted(address: str) -> bytes:
    """``<address>`` for MAIL and RCPT, as aiosmtplib quotes it (UTF-8 only reaches here with SMTPUTF8).

    A plain dot-atom address (what email-validator leaves of nearly every citizen's) is quoted as it is:
    parsing it would give it back unchanged.
    """
    if _DOT_ATOM_ADDRESS.fullmatch(address):
        return b"<" + address.encode("ascii") + b">"
    return quote_address(address).encode("utf-8")


_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_DOT_ATOM_ADDRESS = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")


@functools.cache
def _local_hostname() -> str:
    """This host's name for EHLO (RFC 5321 §4.1.4), looked up once per process: aiosmtplib would ask the
    resolver on every connection (socket.getfqdn, in a thread), and a slow resolver would slow each one."""
    return socket.getfqdn()


def _one_line(exc: BaseException | str) -> str:
    text = str(exc) or type(exc).__name__
    return " ".join(text.split())
