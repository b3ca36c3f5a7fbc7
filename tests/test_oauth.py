"""OAuth 2.0 access tokens (adapters/oauth/): token commands, msal, caching and refresh, no token leaks."""

from __future__ import annotations

import json
import re
import sys
import textwrap
import time
import tomllib
import types
from pathlib import Path
from typing import Any

import pytest

from mailbot.adapters.imap import ImapMailbox
from mailbot.adapters.oauth import (
    AccessToken,
    CommandTokenSource,
    MsalTokenSource,
    TokenError,
    TokenProvider,
)
from mailbot.adapters.oauth import tokens as oauth_tokens
from mailbot.adapters.tls import refused, xoauth2_string
from mailbot.bootstrap import imap_token, smtp_token
from mailbot.config import parse_config
from mailbot.errors import MailbotError, MailboxUnavailableError

# Prints a new token on every run ("token-1", "token-2", ...) with the lifetime given as argv[2]; with
# argv[2] "-", the token alone (lifetime unknown).
COUNTING_TOKEN = textwrap.dedent(
    """\
    import json, pathlib, sys
    counter = pathlib.Path(sys.argv[1])
    runs = int(counter.read_text()) + 1 if counter.exists() else 1
    counter.write_text(str(runs))
    if sys.argv[2] == "-":
        print(f"token-{runs}")
    else:
        print(json.dumps({"access_token": f"token-{runs}", "expires_in": int(sys.argv[2])}))
    """
)


def python(code: str, *args: str) -> list[str]:
    """A token command running `code` in this interpreter."""
    return [sys.executable, "-c", code, *args]


class FakeClock:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def counting_provider(tmp_path: Path, lifetime: int) -> tuple[TokenProvider, FakeClock, Path]:
    """A provider over COUNTING_TOKEN with a fake clock; the file counts the command's runs."""
    counter = tmp_path / "runs"
    clock = FakeClock()
    source = CommandTokenSource(python(COUNTING_TOKEN, str(counter), str(lifetime)), timeout=30)
    return TokenProvider(source, clock=clock), clock, counter


def test_xoauth2_string_is_the_sasl_initial_response() -> None:
    """The XOAUTH2 string is user=..^Aauth=Bearer ..^A^A, as Google and Microsoft specify it."""
    assert (
        xoauth2_string("desk@example.org", "ya29.abc")
        == "user=desk@example.org\x01auth=Bearer ya29.abc\x01\x01"
    )


def test_command_printing_a_bare_token() -> None:
    """A command that prints just the token gives that token, with an unknown lifetime."""
    token = CommandTokenSource(python("print('eyJ0eXAi.payload.sig')")).fetch()

    assert token == AccessToken("eyJ0eXAi.payload.sig", None)
    assert "eyJ0eXAi" not in repr(token)


def test_command_printing_json_gives_token_and_lifetime() -> None:
    """JSON output like a token endpoint's answer gives access_token and expires_in."""
    answer = "{'access_token': 'abc', 'expires_in': '3599', 'token_type': 'Bearer'}"
    code = f"import json; print(json.dumps({answer}))"

    assert CommandTokenSource(python(code)).fetch() == AccessToken("abc", 3599.0)


def test_token_is_refreshed_five_minutes_before_it_expires(tmp_path: Path) -> None:
    """A one-hour token is reused for 55 minutes, then fetched anew before any later login."""
    provider, clock, counter = counting_provider(tmp_path, lifetime=3600)

    assert provider.token() == "token-1"
    clock.now += 3600 - 300 - 1  # 5 min + 1 s left
    assert provider.token() == "token-1"
    assert counter.read_text() == "1"
    clock.now += 2  # less than 5 minutes left
    assert provider.token() == "token-2"
    assert provider() == "token-2"  # the provider is the Callable[[], str] the adapters take
    assert counter.read_text() == "2"


def test_short_lived_token_is_refreshed_with_a_tenth_of_its_lifetime_left(tmp_path: Path) -> None:
    """A 10-minute token is replaced when a tenth of its lifetime (60 s) is left, not 5 minutes before."""
    provider, clock, _ = counting_provider(tmp_path, lifetime=600)

    assert provider.token() == "token-1"
    clock.now += 539
    assert provider.token() == "token-1"
    clock.now += 2
    assert provider.token() == "token-2"


def test_token_of_unknown_lifetime_is_fetched_for_every_login(tmp_path: Path) -> None:
    """Without expires_in nothing is cached: each login runs the command again."""
    source = CommandTokenSource(python(COUNTING_TOKEN, str(tmp_path / "runs"), "-"))
    provider = TokenProvider(source, clock=FakeClock())

    assert [provider.token(), provider.token()] == ["token-1", "token-2"]


def test_failing_command_shows_its_exit_status_but_not_its_output() -> None:
    """A failed command is one clear TokenError; what it printed (maybe a secret) is not in the message."""
    code = (
        "import sys; print('client-secret-4711'); print('client-secret-4711', file=sys.stderr); sys.exit(3)"
    )

    with pytest.raises(TokenError) as caught:
        CommandTokenSource(python(code)).fetch()

    message = str(caught.value)
    assert message.startswith(f"token command {Path(sys.executable).name}: failed with exit status 3")
    assert "client-secret-4711" not in message
    assert "\n" not in message
    assert isinstance(caught.value, MailbotError)
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        pytest.param(["/nonexistent/get-token"], "token command get-token: not found", id="missing"),
        pytest.param(python("print()"), "printed nothing (expected an access token)", id="empty"),
        pytest.param(python("print('Bearer abc')"), "printed more than the token", id="two-words"),
        pytest.param(python("print('{not json')"), "printed invalid JSON", id="bad-json"),
        pytest.param(python("print('[1]')"), "is not a bearer token", id="not-a-token"),
        pytest.param(
            python('print(\'{"error": "invalid_grant", "error_description": "Token expired\\\\nTrace"}\')'),
            "refused (invalid_grant): Token expired",
            id="json-error",
        ),
        pytest.param(
            python('print(\'{"access_token": "a\\\\u0001b"}\')'),
            "the output is not a bearer token (RFC 6750 characters only)",
            id="control-character",
        ),
        pytest.param(
            python('print(\'{"access_token": "abc", "expires_in": "soon"}\')'),
            "expires_in is not a number of seconds",
            id="bad-lifetime",
        ),
        pytest.param(python("import time; time.sleep(30)"), "printed no token within 0.5 s", id="timeout"),
    ],
)
def test_command_problems_are_one_clear_line(argv: list[str], problem: str) -> None:
    """Every way a token command can fail is a TokenError naming the command and the problem."""
    with pytest.raises(TokenError) as caught:
        CommandTokenSource(argv, timeout=0.5).fetch()

    assert problem in str(caught.value)
    assert str(caught.value).startswith("token command ")
    assert "\n" not in str(caught.value)


# --- Microsoft's client-credentials flow through msal (a fake msal: the real one needs the internet) -------


class FakeMsal:
    """Stands in for the msal module: records the app's settings and the scopes asked for."""

    def __init__(self, answer: dict[str, Any]) -> None:
        self.answer = answer
        self.apps: list[dict[str, Any]] = []
        self.scopes: list[list[str]] = []
        self.module = types.ModuleType("msal")
        self.module.ConfidentialClientApplication = self._app  # type: ignore[attr-defined]

    def _app(self, client_id: str, **settings: Any) -> Any:
        self.apps.append({"client_id": client_id, **settings})
        fake = self

        class App:
            def acquire_token_for_client(self, scopes: list[str]) -> dict[str, Any]:
                fake.scopes.append(list(scopes))
                return dict(fake.answer)

        return App()


@pytest.fixture
def fake_msal(monkeypatch: pytest.MonkeyPatch) -> FakeMsal:
    """A fake msal module in the oauth adapter's place, answering with a token until told otherwise."""
    fake = FakeMsal({"access_token": "eyJ.msal.token", "expires_in": 3599, "token_type": "Bearer"})
    monkeypatch.setattr(oauth_tokens, "msal", fake.module)
    return fake


def test_msal_source_asks_for_the_configured_scopes(fake_msal: FakeMsal) -> None:
    """MsalTokenSource builds a confidential client app and calls acquire_token_for_client with the scopes."""
    source = MsalTokenSource(
        client_id="app-id",
        client_secret="app-secret",
        authority="https://login.microsoftonline.com/tenant",
        scopes=["https://outlook.office365.com/.default"],
        timeout=12,
    )

    assert source.fetch() == AccessToken("eyJ.msal.token", 3599.0)
    assert source.fetch().value == "eyJ.msal.token"
    assert fake_msal.apps == [
        {
            "client_id": "app-id",
            "client_credential": "app-secret",
            "authority": "https://login.microsoftonline.com/tenant",
            "timeout": 12,
        }
    ]  # one app, built at the first fetch and kept (msal caches the token in it)
    assert fake_msal.scopes == [["https://outlook.office365.com/.default"]] * 2
    assert "app-secret" not in repr(source)


def test_msal_error_answer_is_a_clear_token_error(fake_msal: FakeMsal) -> None:
    """An {"error": ...} answer from Entra ID is one TokenError line with the code, never the secret."""
    fake_msal.answer = {
        "error": "invalid_client",
        "error_description": "AADSTS7000215: Invalid client secret provided.\r\nTrace ID: 1\r\nTimestamp: 0",
    }
    source = MsalTokenSource(
        client_id="app-id",
        client_secret="app-secret",
        authority="https://login.microsoftonline.com/t",
        scopes=["s"],
    )

    with pytest.raises(TokenError) as caught:
        source.fetch()

    assert str(caught.value) == (
        "OAuth 2.0 token from login.microsoftonline.com: refused (invalid_client): "
        "AADSTS7000215: Invalid client secret provided."
    )
    assert "app-secret" not in str(caught.value)


def test_msal_missing_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without msal (the [oauth] extra), a fetch is one TokenError line naming the pip command."""
    monkeypatch.setattr(oauth_tokens, "msal", None)
    source = MsalTokenSource(
        client_id="app-id", client_secret="app-secret", authority="https://h/t", scopes=["s"]
    )

    with pytest.raises(TokenError) as caught:
        source.fetch()

    assert str(caught.value) == "OAuth 2.0 token from h: msal is not installed: pip install 'mailbot[oauth]'"


CONFIG = """\
[imap]
host = "outlook.office365.com"
port = 993
security = "tls"
username = "desk@castrop-rauxel.de"
auth = "xoauth2"
tenant_id = "castrop-rauxel.de"
client_id = "app-id"
client_secret = "app-secret"

[smtp]
host = "smtp.office365.com"
port = 587
security = "starttls"
username = "desk@castrop-rauxel.de"
password = "smtp-password"
sender = "Desk <desk@castrop-rauxel.de>"

[database]
url = "sqlite:///mailbot.db"

[[events]]
id = "e"
title = "E"
keyword = "E 08.10."
capacity = 1
starts_at = 2020-10-08T18:00:00+02:00
"""


def test_bootstrap_wires_client_credentials_to_msal(fake_msal: FakeMsal) -> None:
    """imap_token(config) asks msal with the tenant's authority and Exchange Online's default scope."""
    config = parse_config(tomllib.loads(CONFIG), "<test>", env={})

    token = imap_token(config)

    assert token is not None
    assert token() == "eyJ.msal.token"
    assert token() == "eyJ.msal.token"
    assert fake_msal.apps[0]["authority"] == "https://login.microsoftonline.com/castrop-rauxel.de"
    assert fake_msal.scopes == [["https://outlook.office365.com/.default"]]  # cached: asked once
    assert smtp_token(config) is None  # [smtp] logs in with its password


def test_imap_login_without_a_token_fails_before_connecting() -> None:
    """A token that can't be had is a MailboxUnavailableError naming the login, and no connection is tried."""

    def no_token() -> str:
        raise TokenError("token command get-token: failed with exit status 1")

    with pytest.raises(MailboxUnavailableError) as caught:
        # Port 1 refuses connections: getting "connection refused" would mean it connected first.
        ImapMailbox(
            host="127.0.0.1",
            port=1,
            security="none",
            username="desk",
            password="",
            timeout=5,
            token=no_token,
        )

    assert str(caught.value) == "IMAP 127.0.0.1:1: login: token command get-token: failed with exit status 1"


class SequenceSource:
    """A token source handing out the given tokens one per fetch, each valid for an hour."""

    def __init__(self, *tokens: str) -> None:
        self.tokens = list(tokens)
        self.fetches = 0

    def fetch(self) -> AccessToken:
        self.fetches += 1
        return AccessToken(self.tokens.pop(0), expires_in=3600)


def test_the_desks_token_forgets_a_refused_token(tmp_path: Path) -> None:
    """The token bootstrap wires into the mailbox is the cache itself: a refused token is fetched anew."""
    script = tmp_path / "token.py"
    script.write_text(COUNTING_TOKEN, encoding="utf-8")
    command = json.dumps([sys.executable, str(script), str(tmp_path / "runs"), "3600"])
    text = re.sub(
        r"tenant_id = .*\nclient_id = .*\nclient_secret = .*\n", f"token_command = {command}\n", CONFIG
    )
    token = imap_token(parse_config(tomllib.loads(text), "<test>", env={}))
    assert token is not None
    assert token() == token() == "token-1"  # cached for its hour
    refused(token, "token-1")
    assert token() == "token-2"


def test_a_refused_token_is_fetched_anew_at_the_next_login() -> None:
    """After the server refused the cached token, the next login gets a new one, long before expiry."""
    source = SequenceSource("revoked", "fresh")
    provider = TokenProvider(source, clock=FakeClock())
    assert provider() == "revoked"
    refused(provider, "some-other-token")  # not ours to forget: the cache stays
    assert provider() == "revoked"
    assert source.fetches == 1
    refused(provider, "revoked")
    assert provider() == "fresh"
    assert source.fetches == 2


# Starts a child that sleeps (and holds the output pipe, as a wrapper script's `curl` would), writes the
# child's pid to argv[1], then sleeps itself without printing a token.
SPAWNS_A_SLEEPER = textwrap.dedent(
    """\
    import pathlib, subprocess, sys, time
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    pathlib.Path(sys.argv[1]).write_text(str(child.pid))
    time.sleep(120)
    """
)


def _alive(pid: int) -> bool:
    """Whether the process runs (a zombie waiting for its parent to reap it counts as gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return False
    return fields[0] != "Z"


def test_a_token_command_that_times_out_is_killed_with_its_children(tmp_path: Path) -> None:
    """A token command past its timeout is stopped with every process it started: no sleeper is left over."""
    pid_file = tmp_path / "child.pid"
    started = time.monotonic()
    with pytest.raises(TokenError) as caught:
        CommandTokenSource(python(SPAWNS_A_SLEEPER, str(pid_file)), timeout=2).fetch()
    assert "printed no token within 2 s" in str(caught.value)
    assert time.monotonic() - started < 60  # not the child's 120 s: its open pipe did not hold us
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)


def test_a_token_command_printing_without_end_is_stopped() -> None:
    """A command that prints megabytes (a wrong program) is stopped at 64 KiB with one clear line."""
    code = "import sys\nwhile True: sys.stdout.write('x' * 65536)"
    with pytest.raises(TokenError) as caught:
        CommandTokenSource(python(code), timeout=30).fetch()
    assert str(caught.value).endswith("printed more than 64 KiB (expected a token)")
