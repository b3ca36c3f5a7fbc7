"""The first pass's IMAP connection, opened and selected ahead while `mailbot run` starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailbot.adapters.imap import PreparedMailbox
from mailbot.config import ImapSettings
from mailbot.errors import MailboxUnavailableError
from tests.integration.test_desk import invoke
from tests.proxy import Proxy
from tests.servers import Dovecot, ImapAccount


def settings(account: ImapAccount, *, port: int | None = None, password: str | None = None) -> ImapSettings:
    """The account as [imap] settings (plain text on loopback)."""
    return ImapSettings(
        host=account.host,
        port=port or account.port,
        security="none",
        username=account.user,
        password=account.password if password is None else password,
        timeout=10,
    )


def test_the_prepared_connection_is_selected_once(
    dovecot_server: Dovecot, imap_account: ImapAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pass gets the connection with its folder selected ahead: its own select costs no second SELECT."""
    dovecot_server.append(imap_account.user, b"Subject: x\r\n\r\ny")
    prepared = PreparedMailbox(settings(imap_account))
    box = prepared.take()
    assert box is not None
    selects: list[str] = []
    real = box.client.select_folder
    monkeypatch.setattr(box.client, "select_folder", lambda folder: selects.append(folder) or real(folder))
    try:
        assert box.select("INBOX").folder == "INBOX"
        assert selects == []  # answered from the SELECT made ahead
        assert box.list_uids() == [1]
        box.select("INBOX")
        assert selects == ["INBOX"]  # once only: a later select is a real one
    finally:
        box.close()
    assert prepared.take() is None  # handed over once


def test_a_failed_login_ahead_is_the_first_pass_error_and_not_tried_again(imap_account: ImapAccount) -> None:
    """A wrong password ahead: `take` raises that error once (the pass's one line), then the pass connects."""
    with Proxy(imap_account.host, imap_account.port, source="127.0.0.9") as proxy:
        prepared = PreparedMailbox(settings(imap_account, port=proxy.port, password="wrong"))
        with pytest.raises(MailboxUnavailableError, match=r"login: .*AUTHENTICATIONFAILED"):
            prepared.take()
        assert proxy.accepted == 1
        assert prepared.take() is None
        prepared.close()
        assert proxy.accepted == 1


def test_run_once_uses_one_imap_connection(imap_account: ImapAccount, config_file: Path) -> None:
    """`run --once` logs in once: the pass takes the connection opened ahead instead of opening its own."""
    text = config_file.read_text(encoding="utf-8")
    with Proxy(imap_account.host, imap_account.port) as proxy:
        config_file.write_text(text.replace(f"port = {imap_account.port}", f"port = {proxy.port}"))
        code, out, err = invoke(config_file, "run", "--once")
        assert code == 0, err
        assert "processed 0 message(s)" in out
        assert proxy.accepted == 1
