"""The one composition root: Config -> adapters -> Desk; the only place that starts threads or processes."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from types import TracebackType

from mailbot import wiring
from mailbot.adapters.credentials import Argon2Credentials
from mailbot.adapters.db import Database
from mailbot.adapters.db.migrate import migrate
from mailbot.adapters.db.staff import SqlStaffStore
from mailbot.adapters.imap import IdleWatcher, PreparedMailbox
from mailbot.config import Config, WebSettings
from mailbot.core.staff import AccountPolicy, Role
from mailbot.ports import Clock
from mailbot.ports.exports import ExportFiles
from mailbot.scheduler import Closeable, Wake, run_forever
from mailbot.sender import SenderProcess
from mailbot.service import Desk, FlushReport
from mailbot.service.accounts import Accounts
from mailbot.service.watchdog import Health, Watchdog, check_health
from mailbot.wiring import addresses, imap_token, sending_desk, smtp_token, utc_now

__all__ = [  # the wiring's functions are part of the composition root's face
    "Runtime",
    "account_policy",
    "addresses",
    "build_accounts",
    "build_desk",
    "health",
    "imap_token",
    "open_database",
    "sending_desk",
    "smtp_token",
    "utc_now",
]


def open_database(config: Config) -> Database:
    """The configured database, migrated to the newest schema, with the configured events in it."""
    db = Database(config.database.url, fold_subaddress=config.bot.fold_subaddress)
    migrate(db)
    with db.transaction() as tx:
        tx.sync_events(config.events)
    return db


def health(config: Config, now: datetime) -> Health:
    """`mailbot health`'s verdict, read only: no migration, no event sync (it runs beside the bot)."""
    db = Database(config.database.url)
    try:
        return check_health(db, config, now)
    finally:
        db.dispose()


def build_desk(
    config: Config,
    *,
    db: Database | None = None,
    clock: Clock = utc_now,
    stop: threading.Event | None = None,
    prepared: PreparedMailbox | None = None,
    export_files: ExportFiles | None = None,
) -> Desk:
    """The desk of a configuration (wiring.build_desk), on `db` or on the configured database, migrated."""
    return wiring.build_desk(
        config,
        db=db or open_database(config),
        clock=clock,
        stop=stop,
        prepared=prepared,
        export_files=export_files,
    )


def account_policy(web: WebSettings) -> AccountPolicy:
    """The account rules of the `[web]` settings."""
    return AccountPolicy(
        second_factor_roles=frozenset(Role.parse(role) for role in web.require_second_factor),
        session_idle=timedelta(minutes=web.session_idle_minutes),
        session_absolute=timedelta(hours=web.session_absolute_hours),
        attempts_per_account=web.login_attempts_per_account,
        attempts_per_client=web.login_attempts_per_client,
        throttle_window=timedelta(minutes=web.login_attempts_window_minutes),
    )


def build_accounts(db: Database, web: WebSettings, clock: Clock = utc_now) -> Accounts:
    """The staff accounts' use-cases on the database (argon2id, TOTP): `mailbot user`, the console."""
    return Accounts(SqlStaffStore(db), Argon2Credentials(), clock, account_policy(web))


class Runtime:
    """What `mailbot run` starts: the sending process, the first pass's mailbox, the desk; closed together.

    Use it as a context manager: entering starts the sending process (first: it imports its modules on the
    other core while this process opens the database and reads the first batch) and opens the first pass's
    IMAP connection ahead (its login and SELECT wait on the server meanwhile).
    """

    def __init__(self, config: Config, *, verbose: bool, stop: threading.Event) -> None:
        self.config = config
        self.verbose = verbose
        self.stop = stop
        self.sender: SenderProcess | None = None
        self.prepared: PreparedMailbox | None = None
        self._watchdog: Watchdog | None = None

    def __enter__(self) -> Runtime:
        try:
            if self.config.smtp.sender_process:
                self.sender = SenderProcess(
                    self.config,
                    build=sending_desk,
                    new_report=FlushReport,
                    verbose=self.verbose,
                    stop=self.stop,
                ).start()
            if self.config.imap.oauth is None:
                self.prepared = PreparedMailbox(self.config.imap)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def build(self, *, once: bool) -> Watchdog:
        """Wire the desk (with the sending process beside it, unless the database is in memory)."""
        db = open_database(self.config)
        desk = build_desk(self.config, db=db, stop=self.stop, prepared=self.prepared)
        if self.sender is not None and db.in_memory:  # no other process can see this database
            self.sender.close()
            self.sender = None
        desk.background = self.sender
        self._watchdog = Watchdog(desk, once=once)
        return self._watchdog

    @property
    def watchdog(self) -> Watchdog:
        """The watchdog around the desk built by `build`."""
        if self._watchdog is None:
            raise RuntimeError("Runtime.build() first")
        return self._watchdog

    def serve(self, job: Callable[[], bool]) -> None:
        """Run `job` (a pass) now, every poll interval, at each mailing's moment, and when IDLE sees mail."""
        config = self.config
        moments = [e.send_access_at for e in config.events if e.send_access_at] + [
            e.starts_at - e.reminder_before for e in config.events if e.reminder_before
        ]
        watch = _idle_watch(config) if config.imap.idle else None
        run_forever(job, config.bot.poll_interval, self.stop, moments, watch=watch)

    def close(self) -> None:
        """Close the prepared mailbox (if no pass took it) and end the sending process."""
        if self.prepared is not None:
            self.prepared.close()
        if self.sender is not None:
            self.sender.close()


def _idle_watch(config: Config) -> Callable[[Wake], Closeable]:
    """Starts the IMAP IDLE watcher (RFC 2177) for `run`: new mail wakes the scheduler at once."""
    imap = config.imap
    token = imap_token(config)  # its own cache: the watcher's thread logs in apart from the passes

    def watch(wake: Wake) -> Closeable:
        return IdleWatcher(
            host=imap.host,
            port=imap.port,
            security=imap.security,
            username=imap.username,
            password=imap.password,
            folder=imap.folder,
            timeout=imap.timeout,
            wake=wake,
            cafile=imap.ca_file,
            poll_interval=config.bot.poll_interval,
            token=token,
        ).start()

    return watch
