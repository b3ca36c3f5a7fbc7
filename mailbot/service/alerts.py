"""The one alert sender: a notice to every admin (an outage, its recovery, a pause of sending)."""

from __future__ import annotations

import logging
from datetime import datetime

from mailbot.core import replies
from mailbot.errors import MailbotError, TemporaryDeliveryError
from mailbot.ports import DeliveryResult, OutgoingMail
from mailbot.redact import describe_error, mask_addresses
from mailbot.service.context import Context

log = logging.getLogger("mailbot")


def describe(exc: BaseException) -> str:
    """An error as one log line: our own errors by their message, others with their type."""
    text = " ".join(str(exc).split())
    return mask_addresses(text if isinstance(exc, MailbotError) and text else describe_error(exc))


def mail_admins(ctx: Context, subject: str, body: str, now: datetime) -> bool:
    """One mail per admin through the desk's mailer, outside the outbox and its limits; False if it must be
    tried again later (the server could not be reached, or deferred one).

    An admin address the server refuses for good (5xx) is logged and not retried: that would never
    succeed. With no admin_addresses configured the log line is all there is.
    """
    admins = ctx.config.bot.admin_addresses
    if not admins:
        log.warning("no [bot] admin_addresses configured: nobody gets this notice by mail")
        return True
    mails = []
    for number, admin in enumerate(admins):
        message = replies.build_alert(
            to=ctx.addresses.reply_address(admin),  # an IDN domain in A-labels, as for replies
            subject=subject,
            body=body,
            message_id=ctx.new_message_id(),
            now=now,
            settings=ctx.reply_settings,
        )
        sender = ctx.config.smtp.sender_address
        mails.append(OutgoingMail(-1 - number, sender, message.recipient, message.as_bytes()))
    results: list[DeliveryResult] = []
    try:
        ctx.mailer.send_all(mails, results.append)
    except TemporaryDeliveryError as exc:
        log.warning("notice to the admins not sent: %s", exc)
        return False
    except Exception as exc:  # noqa: BLE001 (a notice must never end the bot)
        log.warning("notice to the admins not sent: %s", describe(exc))
        return False
    for result in results:
        if not result.accepted:
            admin = admins[-1 - result.outbox_id]
            log.warning("notice to admin %s refused: %s", admin, result.error)
    return all(r.accepted or r.permanent for r in results) and len(results) == len(mails)
