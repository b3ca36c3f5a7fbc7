"""Private, throw-away Dovecot and PostgreSQL servers on loopback for tests and benchmarks."""

from __future__ import annotations

import atexit
import contextlib
import glob
import grp
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Self

from imapclient import IMAPClient

from mailbot.demo.servers import free_port

MAIL_USER = "vmail"  # Dovecot refuses to store mail as root (FACTS.md)
PG_USER = "postgres"  # initdb/pg_ctl refuse to run as root (FACTS.md)
MULTIAPPEND_BATCH = 500  # ~3,000 msgs/s on loopback (FACTS.md); bounded literal size per command


def find_dovecot() -> str | None:
    """The path of the Dovecot master binary, or None when it isn't installed."""
    return shutil.which("dovecot") or shutil.which("dovecot", path="/usr/sbin:/usr/local/sbin")


def find_pg_bin() -> str | None:
    """The bin directory of the newest installed PostgreSQL (holding initdb and pg_ctl), or None."""

    def version(path: str) -> tuple[int, ...]:
        name = Path(path).parent.name
        return tuple(int(p) for p in name.split(".") if p.isdigit())

    candidates = [Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")]
    if candidates:
        return str(max(candidates, key=lambda p: version(str(p))))
    initdb = shutil.which("initdb")
    return str(Path(initdb).parent) if initdb else None


def _is_root() -> bool:
    return os.geteuid() == 0


def _ensure_system_user(name: str) -> pwd.struct_passwd:
    """Look up `name`, creating it as a no-login system user (root only) when missing."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--user-group", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
            check=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )
        return pwd.getpwnam(name)


def _make_base_dir(prefix: str) -> Path:
    """A short temp dir (unix socket paths are limited to ~108 bytes) that other users may traverse."""
    base = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    base.chmod(0o755)
    return base


def _wait_for_port(
    host: str, port: int, deadline: float, alive: subprocess.Popen[bytes] | None = None
) -> None:
    while True:
        if alive is not None and alive.poll() is not None:
            raise RuntimeError(f"server exited with {alive.returncode} before listening on {host}:{port}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {host}:{port}") from None
            time.sleep(0.02)


def _log_tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass(frozen=True)
class ImapAccount:
    """Where and how to log in to one (fresh, empty) mailbox."""

    host: str
    port: int
    user: str
    password: str


class Dovecot:
    """A private Dovecot IMAP server on a loopback port, accepting any user name with one password.

    Each user name is its own empty mailbox, created on first login, so tests never share state. With
    `oauth2_introspection_url` it also takes SASL XOAUTH2/OAUTHBEARER logins, checking each token at that
    OAuth 2.0 token-introspection endpoint (RFC 7662, POST); password logins keep working beside them.
    """

    password = "secret"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int | None = None,
        binary: str | None = None,
        oauth2_introspection_url: str | None = None,
    ) -> None:
        self.host = host
        self.port = port or 0
        self._binary = binary or find_dovecot()
        self.oauth2_introspection_url = oauth2_introspection_url
        self._dir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    # -- lifecycle ------------------------------------------------------------------------------------

    def start(self, timeout: float = 15.0) -> Self:
        """Write the config, start Dovecot in the foreground and wait until a login works; returns self."""
        if self._binary is None:
            raise FileNotFoundError("dovecot is not installed (apt-get install dovecot-imapd)")
        self.port = self.port or free_port(self.host)
        self._dir = base = _make_base_dir("dc")
        if _is_root():
            mail = _ensure_system_user(MAIL_USER)
            mail_uid, mail_gid = mail.pw_uid, mail.pw_gid
        else:
            mail_uid, mail_gid = os.getuid(), os.getgid()
        home = base / "home"
        home.mkdir()
        if _is_root():
            os.chown(home, mail_uid, mail_gid)
        (base / "dovecot.conf").write_text(self._config(base, mail_uid, mail_gid))
        if self.oauth2_introspection_url is not None:
            (base / "dovecot-oauth2.conf.ext").write_text(self._oauth2_config())
        log = base / "dovecot.log"
        with (base / "stdio.log").open("wb") as stdio:
            # -F keeps the master in the foreground so we own its pid; its stdio must not be our pipes
            # (FACTS.md: Dovecot keeps the caller's stderr open, capture_output hangs).
            self._proc = subprocess.Popen(
                [self._binary, "-F", "-c", str(base / "dovecot.conf")],
                stdin=subprocess.DEVNULL,
                stdout=stdio,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        atexit.register(self.stop)
        deadline = time.monotonic() + timeout
        try:
            _wait_for_port(self.host, self.port, deadline, self._proc)
            self.client("startup-probe").logout()
        except Exception as exc:
            detail = _log_tail(log) + "\n" + _log_tail(base / "stdio.log")
            self.stop()
            raise RuntimeError(f"Dovecot did not start:\n{detail}") from exc
        return self

    def stop(self) -> None:
        """Stop the master (it takes its children along) and remove the directory."""
        atexit.unregister(self.stop)
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            # SIGTERM to the whole process group (start_new_session): the master alone waits ~1 s
            # for its children, the group stops in milliseconds.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def directory(self) -> Path:
        """The server's private directory (config, logs, mail under home/<user>)."""
        if self._dir is None:
            raise RuntimeError("Dovecot is not running")
        return self._dir

    def _config(self, base: Path, mail_uid: int, mail_gid: int) -> str:
        if _is_root():
            users = ""  # the packaged dovecot/dovenull users and chrooted login processes
        else:
            me = pwd.getpwuid(os.getuid()).pw_name
            group = grp.getgrgid(os.getgid()).gr_name
            # Unprivileged: every process runs as us; chroot needs root.
            users = f"""
default_internal_user = {me}
default_internal_group = {group}
default_login_user = {me}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
"""
        mechanisms, oauth2_passdb, password_only = "plain login", "", ""
        if self.oauth2_introspection_url is not None:
            mechanisms += " xoauth2 oauthbearer"
            oauth2_passdb = self._oauth2_passdb(base)
            password_only = "\n  mechanisms = plain login"  # a token is never taken for the password
        return f"""# Private test instance; see tests/servers.py.
base_dir = {base}/run
state_dir = {base}/state
instance_name = dc-{base.name}
log_path = {base}/dovecot.log
protocols = imap
listen = {self.host}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = {mechanisms}
# A failed login would otherwise cost ~2 s (FACTS.md).
auth_failure_delay = 0
{oauth2_passdb}# Static passdb/userdb: any user name logs in with one password, no passwd-file to reload.
passdb {{
  driver = static
  args = password={self.password}{password_only}
}}
userdb {{
  driver = static
  args = uid={mail_uid} gid={mail_gid} home={base}/home/%u
}}
# The system uids of vmail (or the caller) are below the default 500.
first_valid_uid = {mail_uid}
first_valid_gid = {mail_gid}
mail_location = maildir:~/Maildir
# Throw-away data: no fsync.
mail_fsync = never
# Tests and benchmarks open many connections as one user from 127.0.0.1.
mail_max_userip_connections = 1000
service imap-login {{
  inet_listener imap {{
    address = {self.host}
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
{users}"""

    @staticmethod
    def _oauth2_passdb(base: Path) -> str:
        return f"""# Tokens (XOAUTH2/OAUTHBEARER only) are checked at the introspection endpoint.
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {base}/dovecot-oauth2.conf.ext
}}
"""

    def _oauth2_config(self) -> str:
        # RFC 7662 introspection by POST (token=...); the answer's "username" must be the login's user and
        # "active" must be true. No tokeninfo_url: every login asks the endpoint.
        return f"""introspection_mode = post
introspection_url = {self.oauth2_introspection_url}
username_attribute = username
active_attribute = active
active_value = true
force_introspection = yes
timeout_msecs = 5000
"""

    # -- helpers for tests ----------------------------------------------------------------------------

    def account(self, user: str | None = None) -> ImapAccount:
        """Access data for `user` (default: a fresh unique user name, i.e. an empty mailbox)."""
        return ImapAccount(self.host, self.port, user or f"u{uuid.uuid4().hex[:12]}", self.password)

    def client(self, user: str) -> IMAPClient:
        """A logged-in imapclient connection for `user` (plaintext, loopback)."""
        client = IMAPClient(self.host, self.port, ssl=False, timeout=30)
        try:
            client.login(user, self.password)
        except Exception:
            client.shutdown()
            raise
        return client

    def append(
        self,
        user: str,
        raw: bytes,
        *,
        folder: str = "INBOX",
        internaldate: datetime | None = None,
        flags: Sequence[str | bytes] = (),
    ) -> None:
        """APPEND one message to `user`'s `folder` (created if missing) with an INTERNALDATE and flags."""
        client = self.client(user)
        try:
            _ensure_folder(client, folder)
            client.append(folder, raw, flags=tuple(flags), msg_time=internaldate)
        finally:
            client.logout()

    def append_many(
        self, user: str, items: Iterable[tuple[bytes, datetime | None]], *, folder: str = "INBOX"
    ) -> None:
        """APPEND many (raw, internaldate) messages in order with MULTIAPPEND (RFC 3502), in batches."""
        client = self.client(user)
        try:
            _ensure_folder(client, folder)
            batch: list[dict[str, object]] = []
            for raw, internaldate in items:
                batch.append({"msg": raw} if internaldate is None else {"msg": raw, "date": internaldate})
                if len(batch) >= MULTIAPPEND_BATCH:
                    client.multiappend(folder, batch)
                    batch = []
            if batch:
                client.multiappend(folder, batch)
        finally:
            client.logout()


def _ensure_folder(client: IMAPClient, folder: str) -> None:
    if folder.upper() != "INBOX" and not client.folder_exists(folder):
        client.create_folder(folder)


class Postgres:
    """A private PostgreSQL cluster in a temp dir on a loopback port: trust auth, speed over durability."""

    def __init__(self, host: str = "127.0.0.1", port: int | None = None, bin_dir: str | None = None) -> None:
        self.host = host
        self.port = port or 0
        self._bin = bin_dir or find_pg_bin()
        self._dir: Path | None = None
        self._running = False

    def _run(self, *args: str) -> None:
        """Run a PostgreSQL tool, as the `postgres` user when we are root; stdio to a log file."""
        assert self._bin is not None
        assert self._dir is not None
        cmd = [str(Path(self._bin) / args[0]), *args[1:]]
        if _is_root():
            cmd = ["runuser", "-u", PG_USER, "--", *cmd]
        with (self._dir / "tools.log").open("ab") as out:
            # Never a pipe: the postmaster forked by pg_ctl could inherit it and block our read.
            result = subprocess.run(
                cmd, check=False, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
            )
        if result.returncode != 0:
            log = _log_tail(self._dir / "tools.log")
            raise RuntimeError(f"{args[0]} failed ({result.returncode}):\n{log}")

    def start(self) -> Self:
        """initdb a fresh cluster and start it; returns self."""
        if self._bin is None:
            raise FileNotFoundError("PostgreSQL is not installed (apt-get install postgresql)")
        self.port = self.port or free_port(self.host)
        self._dir = base = _make_base_dir("pg")
        if _is_root():
            pg = _ensure_system_user(PG_USER)
            os.chown(base, pg.pw_uid, pg.pw_gid)
        data = base / "data"
        atexit.register(self.stop)
        try:
            self._run("initdb", "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                      "--locale=C.UTF-8", "--no-sync", "--no-instructions")  # fmt: skip
            settings = {
                "listen_addresses": f"'{self.host}'",
                "port": str(self.port),
                "unix_socket_directories": f"'{base}'",
                # Throw-away data: durability off for speed.
                "fsync": "off",
                "synchronous_commit": "off",
                "full_page_writes": "off",
                "max_connections": "200",
            }
            with (data / "postgresql.conf").open("a") as conf:
                conf.write("\n# tests/servers.py\n")
                conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
            self._run("pg_ctl", "start", "-w", "-t", "60", "-D", str(data), "-l", str(base / "postgres.log"))
            self._running = True
        except Exception:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the cluster immediately (the data is thrown away) and remove the directory."""
        atexit.unregister(self.stop)
        if self._dir is None:
            return
        if self._running:
            self._running = False
            with contextlib.suppress(RuntimeError):
                self._run("pg_ctl", "stop", "-m", "immediate", "-w", "-D", str(self._dir / "data"))
        shutil.rmtree(self._dir, ignore_errors=True)
        self._dir = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def url(self, database: str = "postgres") -> str:
        """The SQLAlchemy URL of `database` (psycopg 3 driver)."""
        return f"postgresql+psycopg://postgres@{self.host}:{self.port}/{database}"

    def create_database(self, name: str | None = None) -> str:
        """Create an empty database (default: a unique name) and return its SQLAlchemy URL."""
        import psycopg  # noqa: PLC0415 (only the PostgreSQL fixtures need the driver)
        from psycopg import sql  # noqa: PLC0415

        name = name or f"t{uuid.uuid4().hex[:12]}"
        with psycopg.connect(
            host=self.host, port=self.port, user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def drop_database(self, name: str) -> int:
        """Drop a test's database, ending the connections it left open; returns how many there were."""
        import psycopg  # noqa: PLC0415 (only the PostgreSQL fixtures need the driver)
        from psycopg import sql  # noqa: PLC0415

        with psycopg.connect(
            host=self.host, port=self.port, user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (name,)).fetchone()
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        left = int(row[0]) if row else 0
        if left and os.environ.get("MAILBOT_REPORT_PG_LEAKS"):
            print(f"\nLEAK {left} connection(s) left open in {name}", file=sys.stderr)
        return left
