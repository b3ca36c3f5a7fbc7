"""OAuth 2.0 logins (SASL XOAUTH2) end to end: Dovecot checking tokens at a local introspection endpoint."""

from __future__ import annotations

import base64
import json
import shlex
import sys
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from click.testing import CliRunner

from mailbot.adapters.imap import IdleWatcher, ImapMailbox
from mailbot.adapters.oauth import AccessToken, CommandTokenSource, TokenProvider
from mailbot.adapters.smtp import SmtpMailer
from mailbot.adapters.tls import xoauth2_string
from mailbot.cli import cli
from mailbot.demo.corpus import build_corpus
from mailbot.demo.servers import ReceivedMail, free_port
from mailbot.errors import MailboxUnavailableError, TemporaryDeliveryError
from mailbot.ports import DeliveryResult, OutgoingMail
from tests.conftest import _missing_server, config_data, toml_text
from tests.servers import Dovecot, find_dovecot

# XoauthSink wants AUTH on a plaintext loopback connection, which aiosmtpd warns about on every connection.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")

# A token command: prints the token given as its argument the way a token endpoint answers (RFC 6749 5.1).
TOKEN_SCRIPT = 'import json, sys\nprint(json.dumps({"access_token": sys.argv[1], "expires_in": 3600}))\n'


class Introspection:
    """An OAuth 2.0 token-introspection endpoint (RFC 7662) on loopback, for Dovecot's oauth2 passdb.

    A POST with `token=...` is answered {"active": true, "username": USER} for a granted token, else
    {"active": false}. Every token asked about is recorded.
    """

    def __init__(self) -> None:
        self.grants: dict[str, tuple[str, bool]] = {}
        self.asked: list[str] = []
        self._lock = threading.Lock()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = urllib.parse.parse_qs(self.rfile.read(length).decode())
                token = form.get("token", [""])[0]
                with endpoint._lock:
                    endpoint.asked.append(token)
                    user, active = endpoint.grants.get(token, ("", False))
                answer = {"active": True, "username": user} if active else {"active": False}
                body = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: no request lines on stderr

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="introspection", daemon=True)

    @property
    def url(self) -> str:
        """Where Dovecot posts its questions."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/introspect"

    def grant(self, token: str, user: str, *, active: bool = True) -> None:
        """Make `token` a token of `user` (inactive: expired or revoked)."""
        with self._lock:
            self.grants[token] = (user, active)

    def __enter__(self) -> Introspection:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class XoauthSink:
    """An aiosmtpd peer that insists on AUTH XOAUTH2 with a granted (user, token) before taking mail."""

    def __init__(self) -> None:
        self.host, self.port = "127.0.0.1", free_port()
        self.grants: set[tuple[str, str]] = set()
        self.logins: list[str] = []  # the decoded XOAUTH2 strings, as received
        self.received: list[ReceivedMail] = []
        self._controller = Controller(
            self,
            hostname=self.host,
            port=self.port,
            auth_required=True,
            auth_require_tls=False,
            ready_timeout=10,
        )

    async def auth_XOAUTH2(self, server: Any, args: list[str]) -> AuthResult:
        """Check the initial response against the grants; refuse as Google does (334 JSON error, then 535)."""
        text = base64.b64decode(args[1]).decode() if len(args) > 1 else ""
        self.logins.append(text)
        if any(text == xoauth2_string(user, token) for user, token in self.grants):
            return AuthResult(success=True, auth_data=text)
        await server.challenge_auth(json.dumps({"status": "401", "schemes": "bearer", "scope": "mail"}))
        return AuthResult(
            success=False, handled=False, message="535 5.7.8 Username and Password not accepted"
        )

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: ARG002 (aiosmtpd's hook)
        self.received.append(
            ReceivedMail(envelope.mail_from, tuple(envelope.rcpt_tos), bytes(envelope.content))
        )
        return "250 2.0.0 OK"

    def __enter__(self) -> XoauthSink:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()


def oauth2_dovecot(introspection: Introspection) -> Dovecot:
    """A Dovecot (not started yet: use it in `with`) asking `introspection` about tokens."""
    if find_dovecot() is None:
        _missing_server("Dovecot (dovecot-imapd)")
    return Dovecot(oauth2_introspection_url=introspection.url)


@pytest.fixture(scope="module")
def introspection() -> Iterator[Introspection]:
    """The token-introspection endpoint the module's Dovecot servers ask."""
    with Introspection() as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def oauth_dovecot(introspection: Introspection) -> Iterator[Dovecot]:
    """A private Dovecot taking XOAUTH2 logins, checked at the module's introspection endpoint."""
    with oauth2_dovecot(introspection) as server:
        yield server


@pytest.fixture
def xoauth_sink() -> Iterator[XoauthSink]:
    """An SMTP peer that takes mail only after a good AUTH XOAUTH2."""
    with XoauthSink() as sink:
        yield sink


def xoauth_mailer(sink: XoauthSink, token: Callable[[], str]) -> SmtpMailer:
    """A mailer logging in to the sink as desk@example.org with these tokens."""
    return SmtpMailer(
        host=sink.host,
        port=sink.port,
        security="none",
        username="desk@example.org",
        password=None,
        timeout=10,
        token=token,
    )


class Tokens:
    """A token source handing out the given tokens in turn, each valid for an hour."""

    def __init__(self, *tokens: str) -> None:
        self.tokens = iter(tokens)

    def fetch(self) -> AccessToken:
        return AccessToken(next(self.tokens), expires_in=3600)


def token_command(tmp_path: Path, token: str) -> str:
    """A token_command (one string, as in config.toml) printing `token` as JSON with expires_in."""
    script = tmp_path / "token.py"
    script.write_text(TOKEN_SCRIPT, encoding="utf-8")
    return shlex.join([sys.executable, str(script), token])


def test_bot_logs_in_with_xoauth2_and_books_registrations(
    oauth_dovecot: Dovecot, introspection: Introspection, xoauth_sink: XoauthSink, tmp_path: Path
) -> None:
    """With auth = "xoauth2" in [imap] and [smtp] a pass logs in with tokens only, books and replies."""
    account = oauth_dovecot.account()
    introspection.grant("imap-token-1", account.user)
    xoauth_sink.grants.add(("desk@castrop-rauxel.de", "smtp-token-1"))
    mails = build_corpus(registrations=4, repeats=0, unrelated=1, auto_replies=0)
    oauth_dovecot.append_many(account.user, [(m.raw, m.internaldate) for m in mails])
    data = config_data(account, xoauth_sink, f"sqlite:///{tmp_path / 'mailbot.db'}")  # type: ignore[arg-type]
    imap, smtp = data["imap"], data["smtp"]
    assert isinstance(imap, dict)
    assert isinstance(smtp, dict)
    del imap["password"]
    imap.update(auth="xoauth2", token_command=token_command(tmp_path, "imap-token-1"))
    smtp.update(
        auth="xoauth2",
        username="desk@castrop-rauxel.de",
        token_command=token_command(tmp_path, "smtp-token-1"),
    )
    config = tmp_path / "config.toml"
    config.write_text(toml_text(data), encoding="utf-8")

    result = CliRunner().invoke(cli, ["--config", str(config), "run", "--once"], obj={})

    assert result.exit_code == 0, result.stderr
    assert "replies sent 4" in result.stdout
    assert sorted(str(m.message()["X-Mailbot-Status"]) for m in xoauth_sink.received) == ["confirmed"] * 4
    assert {m.rcpt_tos[0] for m in xoauth_sink.received} == {
        m.sender for m in mails if m.kind == "registration"
    }
    assert set(xoauth_sink.logins) == {xoauth2_string("desk@castrop-rauxel.de", "smtp-token-1")}
    assert "imap-token-1" in introspection.asked  # Dovecot checked the bot's token ...
    log = (oauth_dovecot.directory / "dovecot.log").read_text()
    assert f"Login: user=<{account.user}>, method=XOAUTH2" in log  # ... and let it in with XOAUTH2
    assert "imap-token-1" not in result.stderr + result.stdout
    assert "smtp-token-1" not in result.stderr + result.stdout


def test_idle_watcher_logs_in_with_xoauth2(oauth_dovecot: Dovecot, introspection: Introspection) -> None:
    """The IDLE watcher's own connection logs in with the token and wakes the desk on new mail."""
    account = oauth_dovecot.account()
    introspection.grant("idle-token-1", account.user)
    woke = threading.Event()
    watcher = IdleWatcher(
        host=account.host,
        port=account.port,
        security="none",
        username=account.user,
        password="",
        folder="INBOX",
        timeout=10,
        wake=woke.set,
        token=lambda: "idle-token-1",
    ).start()
    try:
        assert woke.wait(15), "the watcher never reached IDLE"
        woke.clear()
        oauth_dovecot.append(
            account.user, build_corpus(registrations=1, repeats=0, unrelated=0, auto_replies=0)[0].raw
        )
        assert woke.wait(15), "new mail did not wake the desk"
        assert watcher.supported is True
    finally:
        watcher.close()


def test_smtp_logs_in_with_auth_xoauth2(xoauth_sink: XoauthSink, tmp_path: Path) -> None:
    """SmtpMailer with a token sends AUTH XOAUTH2 (user and bearer token) first; the peer then takes mail."""
    xoauth_sink.grants.add(("desk@example.org", "smtp-token-2"))
    argv = shlex.split(token_command(tmp_path, "smtp-token-2"))
    mailer = xoauth_mailer(xoauth_sink, TokenProvider(CommandTokenSource(argv)))
    results: list[DeliveryResult] = []

    mail = OutgoingMail(1, "desk@example.org", "anna@example.org", b"Subject: hi\r\n\r\nhello\r\n")
    mailer.send_all([mail], results.append)

    assert results == [DeliveryResult(1, accepted=True)]
    assert xoauth_sink.logins == ["user=desk@example.org\x01auth=Bearer smtp-token-2\x01\x01"]
    assert [m.rcpt_tos for m in xoauth_sink.received] == [("anna@example.org",)]


def test_smtp_refused_token_defers_the_batch(xoauth_sink: XoauthSink) -> None:
    """A token the SMTP server refuses is one TemporaryDeliveryError line (535), without the token."""
    mailer = xoauth_mailer(xoauth_sink, lambda: "revoked-token-4711")
    mail = OutgoingMail(1, "desk@example.org", "anna@example.org", b"Subject: hi\r\n\r\nhello\r\n")

    with pytest.raises(TemporaryDeliveryError) as caught:
        mailer.send_all([mail], lambda _result: None)

    message = str(caught.value)
    assert message.startswith(f"SMTP {xoauth_sink.host}:{xoauth_sink.port}: ")
    assert "535" in message
    assert "revoked-token-4711" not in message
    assert "\n" not in message
    assert xoauth_sink.received == []


def test_refused_token_is_one_clear_mailbox_error(introspection: Introspection) -> None:
    """A refused token: one MailboxUnavailableError line without the token, and a new token next login."""
    provider = TokenProvider(Tokens("expired-token-4711", "fresh-token"))
    # Its own Dovecot: after a failed login Dovecot slows every login from the address (auth penalty).
    with oauth2_dovecot(introspection) as server:
        account = server.account()
        introspection.grant("expired-token-4711", account.user, active=False)

        with pytest.raises(MailboxUnavailableError) as caught:
            ImapMailbox(
                host=account.host,
                port=account.port,
                security="none",
                username=account.user,
                password="",
                timeout=10,
                token=provider,
            )

    assert provider() == "fresh-token"
    message = str(caught.value)
    assert (
        message == f"IMAP {account.host}:{account.port}: login: [AUTHENTICATIONFAILED] Authentication failed."
    )
    assert "expired-token-4711" in introspection.asked  # the server checked it and said no


def test_smtp_refused_token_is_replaced_at_the_next_batch(xoauth_sink: XoauthSink) -> None:
    """A revoked token fails one batch; the next batch logs in with a new token, not after its expiry."""
    xoauth_sink.grants.add(("desk@example.org", "fresh-token"))
    mailer = xoauth_mailer(xoauth_sink, TokenProvider(Tokens("revoked-token", "fresh-token")))
    mail = OutgoingMail(1, "desk@example.org", "anna@example.org", b"Subject: hi\r\n\r\nhello\r\n")
    with pytest.raises(TemporaryDeliveryError):
        mailer.send_all([mail], lambda _result: None)
    results: list[DeliveryResult] = []

    mailer.send_all([mail], results.append)

    assert results == [DeliveryResult(1, accepted=True)]
    assert [m.rcpt_tos for m in xoauth_sink.received] == [("anna@example.org",)]
