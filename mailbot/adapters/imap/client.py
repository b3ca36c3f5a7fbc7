"""IMAP adapter around imapclient: read with BODY.PEEK[] (never \\Seen), mark and move after the commit."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC
from typing import TYPE_CHECKING, Any

import imapclient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError, LoginError

from mailbot.adapters.imap.responses import one_line, read_bodies, read_metas, sequence_set
from mailbot.adapters.tls import refused, tls_context
from mailbot.errors import MailbotError, MailboxUnavailableError
from mailbot.ports import MailboxInfo, MessageMeta, batched

if TYPE_CHECKING:
    from mailbot.config import ImapSettings

FETCH_BATCH = 200


class ImapMailbox:
    """One logged-in IMAP connection with one selected folder.

    `timeout` bounds every network operation: the connect (with the greeting) and each read, so a server
    that accepts but never answers ends the pass after `timeout` seconds instead of hanging it. Every
    connection or protocol failure surfaces as one MailboxUnavailableError with a one-line message.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int,
        security: str,
        username: str,
        password: str,
        timeout: float,
        cafile: str | None = None,
        token: Callable[[], str] | None = None,
    ) -> None:
        self._folder = ""
        self._selected: MailboxInfo | None = None  # selected ahead (PreparedMailbox), for the next select()
        self._where = f"IMAP {host}:{port}"
        self._broken = False
        # With `token` the login is SASL XOAUTH2 (Microsoft 365, Google) and `password` is not used. The token
        # is had before connecting: a slow token service then holds no connection open.
        access_token = None if token is None else _access_token(token, f"{self._where}: login")
        with self._network("connect"):
            self.client = imapclient.IMAPClient(
                host,
                port=port,
                ssl=security == "tls",
                ssl_context=tls_context(cafile) if security != "none" else None,
                timeout=timeout,
            )
        try:
            if security == "starttls":
                with self._network("STARTTLS"):
                    self.client.starttls(tls_context(cafile))
            with self._network("login"):
                if access_token is None:
                    self.client.login(username, password)
                else:
                    try:
                        self.client.oauth2_login(username, access_token)
                    except LoginError:
                        assert token is not None
                        refused(token, access_token)  # the next pass logs in with a new token
                        raise
        except MailboxUnavailableError:
            with contextlib.suppress(OSError):
                self.client.shutdown()  # no LOGOUT on a connection we could not use
            raise
        # Aware INTERNALDATEs as the server sent them (never converted to local naive time).
        self.client.normalise_times = False

    @contextmanager
    def _network(self, operation: str) -> Iterator[None]:
        """Translate socket and imapclient errors into one line naming the server and the operation."""
        try:
            yield
        except MailboxUnavailableError:
            raise
        except (OSError, IMAPClientError) as exc:
            # A timeout or a dropped connection leaves the protocol mid-response: don't talk on it again.
            if isinstance(exc, OSError | IMAPClientAbortError):
                self._broken = True
            raise MailboxUnavailableError(f"{self._where}: {operation}: {one_line(exc)}") from exc

    def select(self, folder: str) -> MailboxInfo:
        """SELECT (read-write, so keywords can be stored; SELECT itself changes no flags).

        A folder selected ahead by PreparedMailbox is not selected twice: its answer is given once.
        """
        ahead, self._selected = self._selected, None
        if ahead is not None and ahead.folder == folder:
            return ahead
        with self._network(f"SELECT {folder}"):
            info = self.client.select_folder(folder)
        self._folder = folder
        permanent = [f.decode() if isinstance(f, bytes) else str(f) for f in info.get(b"PERMANENTFLAGS", ())]
        return MailboxInfo(
            folder=folder, uidvalidity=int(info[b"UIDVALIDITY"]), keywords_allowed="\\*" in permanent
        )

    def select_ahead(self, folder: str) -> None:
        """SELECT now; the next `select` of this folder gives this answer instead of selecting again."""
        self._selected = self.select(folder)

    def list_uids(self) -> list[int]:
        """UID SEARCH ALL, ascending."""
        with self._network("SEARCH"):
            return sorted(int(u) for u in self.client.search(["ALL"]))

    def fetch_meta(self, uids: Sequence[int]) -> list[MessageMeta]:
        """INTERNALDATE and RFC822.SIZE, in batches."""
        metas: list[MessageMeta] = []
        for chunk in batched(uids, 2000):
            with self._network("FETCH INTERNALDATE"):
                quick = read_metas(self._fetch_raw(chunk, "(INTERNALDATE RFC822.SIZE)"), set(chunk))
                if quick is not None:
                    metas += quick
                    continue
                answer = self.client.fetch(list(chunk), ["INTERNALDATE", "RFC822.SIZE"])
            for uid, data in answer.items():
                when = data[b"INTERNALDATE"]
                if when.tzinfo is None:  # servers always send a zone; stay safe anyway
                    when = when.replace(tzinfo=UTC)
                # The same instant in UTC: imapclient gives every date a time-zone object of its own
                # (~400 bytes a mail, held for the whole pass: 20 MB with 50,000 mails in the folder).
                when = when.astimezone(UTC)
                metas.append(
                    MessageMeta(uid=int(uid), internaldate=when, size=int(data.get(b"RFC822.SIZE", 0)))
                )
        return metas

    def fetch_bodies(self, uids: Sequence[int]) -> dict[int, bytes]:
        """BODY.PEEK[]: the whole message without setting \\Seen (RFC 3501 §6.4.5)."""
        bodies: dict[int, bytes] = {}
        for chunk in batched(uids, FETCH_BATCH):
            with self._network("FETCH BODY.PEEK[]"):
                quick = read_bodies(self._fetch_raw(chunk, "(BODY.PEEK[])"), set(chunk))
                if quick is not None:
                    bodies.update(quick)
                    continue
                answer = self.client.fetch(list(chunk), ["BODY.PEEK[]"])
            for uid, data in answer.items():
                bodies[int(uid)] = bytes(data.get(b"BODY[]", b""))
        return bodies

    def _fetch_raw(self, uids: Sequence[int], items: str) -> list[Any]:
        """UID FETCH through imaplib, unparsed: a list of lines, and (line, literal) pairs.

        imapclient parses FETCH answers with a lexer in Python that visits every character, ~30 µs a
        message for a date and a size. A pass reads each mail's date and size and then its bytes: those two
        answers are read in responses.py, and anything it doesn't expect goes to imapclient.
        `_imap` (imapclient's imaplib connection, as its own `fetch` uses it) is the one private name used.
        """
        typ, data = self.client._imap.uid("FETCH", sequence_set(uids), items)
        if typ != "OK":
            last = data[-1] if data else typ
            raise IMAPClientError(
                f"fetch failed: {last.decode('utf-8', 'replace') if isinstance(last, bytes) else last}"
            )
        return list(data)

    def mark(self, uids: Sequence[int], keyword: str) -> None:
        """UID STORE +FLAGS (keyword)."""
        if uids:
            with self._network("STORE"):
                self.client.add_flags(list(uids), [keyword.encode()], silent=True)

    def move(self, uids: Sequence[int], folder: str) -> None:
        """UID MOVE (RFC 6851), or COPY + \\Deleted + UID EXPUNGE where MOVE is missing."""
        if not uids:
            return
        with self._network(f"MOVE to {folder}"):
            if not self.client.folder_exists(folder):
                self.client.create_folder(folder)
            if self.client.has_capability("MOVE"):
                self.client.move(list(uids), folder)
            else:
                self.client.copy(list(uids), folder)
                self.client.add_flags(list(uids), [imapclient.DELETED], silent=True)
                self.client.uid_expunge(list(uids))

    def close(self) -> None:
        """LOGOUT, or just close a connection that failed (a LOGOUT there would wait out the timeout)."""
        if not self._broken:
            try:
                self.client.logout()
            except (OSError, IMAPClientError):
                pass
            else:
                return
        with contextlib.suppress(OSError):
            self.client.shutdown()


def open_mailbox(imap: ImapSettings, token: Callable[[], str] | None) -> ImapMailbox:
    """A logged-in connection to the configured server (`token`: for [imap] auth = "xoauth2")."""
    return ImapMailbox(
        host=imap.host,
        port=imap.port,
        security=imap.security,
        username=imap.username,
        password=imap.password,
        timeout=imap.timeout,
        cafile=imap.ca_file,
        token=token,
    )


class PreparedMailbox:
    """The first pass's connection, opened and its folder selected in a thread while `mailbot run` starts.

    Logging in and SELECT wait on the server (~0.1 s; longer for a large maildir folder): meanwhile the
    process loads its modules and opens the database. `take` hands the connection over once, or raises once
    what opening it met: the pass fails with the usual one-line error, as if it had connected itself (a
    wrong password is not tried twice). Password logins only: a token login takes its token from the pass's
    own cache.
    """

    def __init__(self, imap: ImapSettings) -> None:
        self._box: ImapMailbox | None = None
        self._error: MailboxUnavailableError | None = None
        self._thread = threading.Thread(
            target=self._open, args=(imap,), name="mailbot-imap-ahead", daemon=True
        )
        self._thread.start()

    def _open(self, imap: ImapSettings) -> None:
        try:
            box = open_mailbox(imap, None)
        except MailboxUnavailableError as exc:
            self._error = exc
            return
        try:
            box.select_ahead(imap.folder)
        except MailboxUnavailableError:
            box.close()  # the pass selects again and meets the error itself
            return
        self._box = box

    def take(self) -> ImapMailbox | None:
        """The prepared connection, once; None afterwards (the caller connects)."""
        self._thread.join()
        box, self._box = self._box, None
        error, self._error = self._error, None
        if error is not None:
            raise error
        return box

    def close(self) -> None:
        """Log out of a connection no pass took (one still opening is left to the daemon thread's end)."""
        if self._thread.is_alive():
            return
        self._error = None
        box = self.take()
        if box is not None:
            box.close()


def _access_token(token: Callable[[], str], where: str) -> str:
    """The access token for a login; a failure to get one becomes a MailboxUnavailableError."""
    try:
        return token()
    except MailbotError as exc:
        raise MailboxUnavailableError(f"{where}: {one_line(exc)}") from exc
