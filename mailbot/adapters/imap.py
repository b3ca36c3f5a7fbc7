"""IMAP adapter around imapclient: read with BODY.PEEK[] (never \\Seen), mark and move after the commit."""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from datetime import UTC

import imapclient
from imapclient.exceptions import IMAPClientError

from mailbot.errors import MailboxUnavailableError
from mailbot.ports import MailboxInfo, MessageMeta, batched

FETCH_BATCH = 200


def tls_context(cafile: str | None = None) -> ssl.SSLContext:
    """A verifying TLS context (system CAs, or a CA file for self-hosted servers)."""
    return ssl.create_default_context(cafile=cafile)


class ImapMailbox:
    """One logged-in IMAP connection with one selected folder."""

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
    ) -> None:
        self._folder = ""
        try:
            self.client = imapclient.IMAPClient(
                host,
                port=port,
                ssl=security == "tls",
                ssl_context=tls_context(cafile) if security != "none" else None,
                timeout=timeout,
            )
            if security == "starttls":
                self.client.starttls(tls_context(cafile))
            self.client.login(username, password)
        except (OSError, IMAPClientError) as exc:
            raise MailboxUnavailableError(f"IMAP {host}:{port}: {_one_line(exc)}") from exc
        # Aware INTERNALDATEs as the server sent them (never converted to local naive time).
        self.client.normalise_times = False

    def select(self, folder: str) -> MailboxInfo:
        """SELECT (read-write, so keywords can be stored; SELECT itself changes no flags)."""
        info = self.client.select_folder(folder)
        self._folder = folder
        permanent = [f.decode() if isinstance(f, bytes) else str(f) for f in info.get(b"PERMANENTFLAGS", ())]
        return MailboxInfo(
            folder=folder, uidvalidity=int(info[b"UIDVALIDITY"]), keywords_allowed="\\*" in permanent
        )

    def list_uids(self) -> list[int]:
        """UID SEARCH ALL, ascending."""
        return sorted(int(u) for u in self.client.search(["ALL"]))

    def fetch_meta(self, uids: Sequence[int]) -> list[MessageMeta]:
        """INTERNALDATE and RFC822.SIZE, in batches."""
        metas: list[MessageMeta] = []
        for chunk in batched(uids, 2000):
            for uid, data in self.client.fetch(list(chunk), ["INTERNALDATE", "RFC822.SIZE"]).items():
                when = data[b"INTERNALDATE"]
                if when.tzinfo is None:  # servers always send a zone; stay safe anyway
                    when = when.replace(tzinfo=UTC)
                metas.append(
                    MessageMeta(uid=int(uid), internaldate=when, size=int(data.get(b"RFC822.SIZE", 0)))
                )
        return metas

    def fetch_bodies(self, uids: Sequence[int]) -> dict[int, bytes]:
        """BODY.PEEK[]: the whole message without setting \\Seen (RFC 3501 §6.4.5)."""
        bodies: dict[int, bytes] = {}
        for chunk in batched(uids, FETCH_BATCH):
            for uid, data in self.client.fetch(list(chunk), ["BODY.PEEK[]"]).items():
                bodies[int(uid)] = bytes(data.get(b"BODY[]", b""))
        return bodies

    def mark(self, uids: Sequence[int], keyword: str) -> None:
        """UID STORE +FLAGS (keyword)."""
        if uids:
            self.client.add_flags(list(uids), [keyword.encode()], silent=True)

    def move(self, uids: Sequence[int], folder: str) -> None:
        """UID MOVE (RFC 6851), or COPY + \\Deleted + UID EXPUNGE where MOVE is missing."""
        if not uids:
            return
        if not self.client.folder_exists(folder):
            self.client.create_folder(folder)
        if self.client.has_capability("MOVE"):
            self.client.move(list(uids), folder)
        else:
            self.client.copy(list(uids), folder)
            self.client.add_flags(list(uids), [imapclient.DELETED], silent=True)
            self.client.uid_expunge(list(uids))

    def close(self) -> None:
        """LOGOUT, ignoring a connection that is already gone."""
        try:
            self.client.logout()
        except (OSError, IMAPClientError):
            self.client.shutdown()


def _one_line(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return " ".join(text.split())
