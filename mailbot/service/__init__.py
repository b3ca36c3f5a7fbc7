"""The use-cases of the desk; `Desk` is their one entry point (see docs/ARCHITECTURE.md)."""

from mailbot.redact import mask_address as mask
from mailbot.service.boundary import refusal
from mailbot.service.context import BackgroundSender, Context
from mailbot.service.desk import Desk
from mailbot.service.intake import BODY_BATCH, PROCESSED_KEYWORD, RETRYABLE
from mailbot.service.outbox import FIRST_SEND_BATCH, OUTBOX_BATCH, SEND_LEASE, backoff
from mailbot.service.results import AdminRegistration, FlushReport, PassReport
from mailbot.service.state_keys import LAST_POLL, PAUSE_REASON, PAUSED_SINCE, THROTTLED

__all__ = [
    "BODY_BATCH",
    "FIRST_SEND_BATCH",
    "LAST_POLL",
    "OUTBOX_BATCH",
    "PAUSED_SINCE",
    "PAUSE_REASON",
    "PROCESSED_KEYWORD",
    "RETRYABLE",
    "SEND_LEASE",
    "THROTTLED",
    "AdminRegistration",
    "BackgroundSender",
    "Context",
    "Desk",
    "FlushReport",
    "PassReport",
    "backoff",
    "mask",
    "refusal",
]
