"""SMTP adapter around aiosmtplib: one persistent connection per batch; 4xx is temporary, 5xx permanent."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import aiosmtplib

from mailbot.adapters.imap import tls_context
from mailbot.errors import TemporaryDeliveryError
from mailbot.ports import DeliveryResult, OutgoingMail


class SmtpMailer:
    """Sends replies; the connection is opened per batch and kept for all its mails.

    `timeout` bounds the connect (with the greeting) and every command, DATA included: a server that
    accepts but never answers raises TemporaryDeliveryError after `timeout` seconds, never a hang.
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
    ) -> None:
        self.host, self.port, self.security = host, port, security
        self.username, self.password, self.timeout, self.cafile = username, password, timeout, cafile

    def send_all(self, mails: Sequence[OutgoingMail], report: Callable[[DeliveryResult], None]) -> None:
        """Send each mail and report the server's answer right away; connection trouble raises."""
        if mails:
            asyncio.run(self._send_all(mails, report))

    async def _send_all(
        self, mails: Sequence[OutgoingMail], report: Callable[[DeliveryResult], None]
    ) -> None:
        smtp = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            timeout=self.timeout,
            use_tls=self.security == "tls",
            start_tls=self.security == "starttls",
            tls_context=tls_context(self.cafile) if self.security != "none" else None,
        )
        try:
            await smtp.connect()
            if self.username:
                await smtp.login(self.username, self.password or "")
        except (OSError, aiosmtplib.SMTPException) as exc:
            raise TemporaryDeliveryError(f"SMTP {self.host}:{self.port}: {_one_line(exc)}") from exc
        try:
            for mail in mails:
                report(await self._send_one(smtp, mail))
        finally:
            try:
                await smtp.quit()
            except (OSError, aiosmtplib.SMTPException):
                smtp.close()

    async def _send_one(self, smtp: aiosmtplib.SMTP, mail: OutgoingMail) -> DeliveryResult:
        try:
            await smtp.sendmail(mail.envelope_from, [mail.recipient], mail.data)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            permanent = all(500 <= c < 600 for c in codes)
            return DeliveryResult(mail.outbox_id, accepted=False, permanent=permanent, error=_one_line(exc))
        except aiosmtplib.SMTPResponseException as exc:
            return DeliveryResult(
                mail.outbox_id,
                accepted=False,
                permanent=500 <= exc.code < 600,
                error=f"{exc.code} {_one_line(exc.message)}",
            )
        except (aiosmtplib.SMTPNotSupported, ValueError) as exc:
            # This mail can't go through this server (e.g. an address needing SMTPUTF8): refused for good,
            # and the connection is still usable for the rest of the batch.
            return DeliveryResult(mail.outbox_id, accepted=False, permanent=True, error=_one_line(exc))
        except (OSError, aiosmtplib.SMTPException) as exc:
            raise TemporaryDeliveryError(f"SMTP {self.host}:{self.port}: {_one_line(exc)}") from exc
        return DeliveryResult(mail.outbox_id, accepted=True)


def _one_line(exc: BaseException | str) -> str:
    text = str(exc) or type(exc).__name__
    return " ".join(text.split())
