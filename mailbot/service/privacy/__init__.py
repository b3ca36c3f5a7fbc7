"""Privacy (DSGVO): erase personal data after each event's retention, forget a person, show what is stored."""

from mailbot.core.privacy import ERASED, Erased, EventPurge, ForgetReport, PurgeReport, erase_at
from mailbot.service.privacy.access import PersonData, person_data
from mailbot.service.privacy.forget import forget
from mailbot.service.privacy.retention import purge_due, purge_event

__all__ = [
    "ERASED",
    "Erased",
    "EventPurge",
    "ForgetReport",
    "PersonData",
    "PurgeReport",
    "erase_at",
    "forget",
    "person_data",
    "purge_due",
    "purge_event",
]
