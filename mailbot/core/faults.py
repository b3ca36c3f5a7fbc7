"""Whose fault is a failure: the environment's (database, disk, network, memory) or the mail's own."""

from __future__ import annotations

# PostgreSQL SQLSTATE classes (and single codes) that say the database, not the statement, is in trouble:
# the same statement succeeds once the trouble is over (PostgreSQL manual, appendix A "Error Codes").
_PG_CLASSES = (
    "08",  # connection exception (lost, refused, failed)
    "53",  # insufficient resources: 53100 disk full, 53200 out of memory, 53300 too many connections
    "57",  # operator intervention: 57014 statement timeout or cancel, 57P01 admin shutdown, 57P03 starting up
    "58",  # system error: 58030 I/O error
    "40",  # transaction rollback: 40001 serialization failure, 40P01 deadlock (concurrency, not the data)
    "XX",  # internal error, XX001 data corrupted
)
_PG_CODES = (
    "25006",  # read-only transaction: a standby after a failover
    "55P03",  # lock not available
    "42501",  # insufficient privilege: the database role was changed
    "42P01",  # undefined table: a database not (or not yet) migrated
)
# SQLite result codes (Python's sqlite_errorname, primary or extended) of the same kind.
_SQLITE_NAMES = (
    "SQLITE_FULL",
    "SQLITE_IOERR",
    "SQLITE_BUSY",
    "SQLITE_LOCKED",
    "SQLITE_CANTOPEN",
    "SQLITE_READONLY",
    "SQLITE_NOMEM",
    "SQLITE_CORRUPT",
    "SQLITE_NOTADB",
    "SQLITE_PROTOCOL",
    "SQLITE_NOLFS",
)
_SQLITE_TEXTS = ("no such table",)  # SQLITE_ERROR is mostly ours; this one means a database not migrated
# A DB-API error of these classes without any SQLSTATE is about the connection itself (psycopg: lost, closed).
_CONNECTION_CLASSES = ("OperationalError", "InterfaceError")
# SQLAlchemy's own: the pool could not give a connection in time, or found it dead.
_SQLALCHEMY_CLASSES = ("DisconnectionError", "TimeoutError")


def environment_fault(exc: BaseException) -> str | None:
    """One line saying what in the environment failed, or None when the failure may be the mail's own.

    Checked along the chain of causes (a driver error inside SQLAlchemy's, a connection error inside
    another): memory exhausted; any OSError (network, disk, a socket); a database connection found lost
    (SQLAlchemy `connection_invalidated`); a PostgreSQL SQLSTATE of `_PG_CLASSES`/`_PG_CODES`; an SQLite
    result code of `_SQLITE_NAMES`; a DB-API OperationalError or InterfaceError without any SQLSTATE; a
    pool timeout. Everything else (a mail that cannot be parsed, a broken rule, a bug, a constraint) is the
    mail's, and quarantines it: a bug that fails on one mail must not stop every mail behind it.
    """
    for link in _chain(exc):
        found = _judge(link)
        if found is not None:
            return found
    return None


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception, the driver error it wraps (`orig`), and its causes and contexts (at most 12)."""
    seen: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo and len(seen) < 12:
        link = todo.pop(0)
        if any(link is s for s in seen):
            continue
        seen.append(link)
        for nxt in (getattr(link, "orig", None), link.__cause__, link.__context__):
            if isinstance(nxt, BaseException):
                todo.append(nxt)
    return seen


def _judge(link: BaseException) -> str | None:  # noqa: PLR0911 (one return per kind, as documented)
    kind = type(link).__name__
    if isinstance(link, MemoryError):
        return "out of memory"
    if isinstance(link, OSError):
        return f"{kind}: {_first_line(link)}"
    if getattr(link, "connection_invalidated", False) is True:
        return f"database connection lost: {_first_line(getattr(link, 'orig', None) or link)}"
    module = type(link).__module__
    if module.startswith("sqlalchemy") and kind in _SQLALCHEMY_CLASSES:
        return f"database: {kind}: {_first_line(link)}"
    sqlstate = getattr(link, "sqlstate", None) or getattr(link, "pgcode", None)
    if isinstance(sqlstate, str) and sqlstate:
        if sqlstate[:2] in _PG_CLASSES or sqlstate in _PG_CODES:
            return f"database: SQLSTATE {sqlstate}: {_first_line(link)}"
        return None
    errorname = getattr(link, "sqlite_errorname", None)
    if isinstance(errorname, str) and errorname:
        primary = any(errorname == n or errorname.startswith(f"{n}_") for n in _SQLITE_NAMES)
        if primary or any(text in str(link).lower() for text in _SQLITE_TEXTS):
            return f"database: {errorname}: {_first_line(link)}"
        return None
    is_dbapi = module.split(".")[0] in ("psycopg", "psycopg2", "sqlite3")
    if is_dbapi and kind in _CONNECTION_CLASSES:
        return f"database: {kind}: {_first_line(link)}"
    return None


def _first_line(exc: BaseException) -> str:
    """The first line of an error's message (a driver's next lines quote SQL, which has no place in a log)."""
    lines = str(exc).strip().splitlines()
    return " ".join(lines[0].split())[:300] if lines else type(exc).__name__
