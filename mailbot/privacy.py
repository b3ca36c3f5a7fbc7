"""Moved to mailbot.service.privacy: a re-export while the shell moves (issue 14), removed once unused."""

from mailbot.service.privacy import (
    ERASED,
    Erased,
    EventPurge,
    ForgetReport,
    PersonData,
    PurgeReport,
    erase_at,
    forget,
    person_data,
    purge_due,
    purge_event,
)

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
