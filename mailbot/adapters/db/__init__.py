"""The database adapter (SQLAlchemy 2): the only package that sees tables, rows and SQL."""

from mailbot.adapters.db.engine import Database, make_engine
from mailbot.adapters.db.schema import (
    SCHEMA_REVISION,
    AuditRow,
    Base,
    EventRow,
    LedgerRow,
    OutboxRow,
    RecoveryCodeRow,
    RegistrationRow,
    SecurityLogRow,
    StaffSessionRow,
    StaffUserRow,
    StateRow,
    UTCDateTime,
)
from mailbot.adapters.db.tx import Tx
from mailbot.core.model import ExportRow
from mailbot.core.records import ClaimedReply, EventSummary
from mailbot.ports.store import BufferedWriteError, DuplicateMessageError

__all__ = [
    "SCHEMA_REVISION",
    "AuditRow",
    "Base",
    "BufferedWriteError",
    "ClaimedReply",
    "Database",
    "DuplicateMessageError",
    "EventRow",
    "EventSummary",
    "ExportRow",
    "LedgerRow",
    "OutboxRow",
    "RecoveryCodeRow",
    "RegistrationRow",
    "SecurityLogRow",
    "StaffSessionRow",
    "StaffUserRow",
    "StateRow",
    "Tx",
    "UTCDateTime",
    "make_engine",
]
