"""Single sign-on: `[web] trusted_user_header` believed only from `[web] trusted_proxies` peers."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator

import pytest
from starlette.testclient import TestClient

from mailbot.core.staff import Role
from mailbot.web.app import create_app
from mailbot.web.console import Console
from tests.web.conftest import add_staff

HEADER = "X-Forwarded-User"
PROXY = ("10.0.0.5", 40000)


@pytest.fixture
def sso(console_factory: Callable[..., Console]) -> Console:
    """A console behind a proxy at 10.0.0.0/24 that names the user in X-Forwarded-User."""
    console = console_factory(
        trusted_user_header=HEADER, trusted_proxies=(ipaddress.ip_network("10.0.0.0/24"),)
    )
    add_staff(console, "orga", Role.ORGANISER, totp=False)
    return console


@pytest.fixture
def via(sso: Console) -> Iterator[Callable[[tuple[str, int]], TestClient]]:
    """`via(peer)`: a browser whose requests arrive from that TCP peer."""
    opened: list[TestClient] = []

    def make(peer: tuple[str, int]) -> TestClient:
        browser = TestClient(create_app(sso), client=peer, follow_redirects=False)
        browser.__enter__()
        opened.append(browser)
        return browser

    yield make
    for browser in opened:
        browser.__exit__(None, None, None)


def test_the_header_from_a_trusted_proxy_logs_in(sso: Console, via: Callable[..., TestClient]) -> None:
    """From the proxy, the named staff member is logged in with their role, without a second factor."""
    browser = via(PROXY)
    page = browser.get("/", headers={HEADER: "orga", "X-Forwarded-For": "192.0.2.44"})
    assert page.status_code == 200
    assert "orga" in page.text
    [session] = sso.accounts.sessions()
    assert session.name == "orga"
    assert session.client == "192.0.2.44"  # the address the proxy appended, not the proxy's
    [event] = sso.accounts.security_log()
    assert (event.kind, event.name, event.detail) == ("login", "orga", "single sign-on")


def test_the_header_from_anyone_else_is_ignored_and_logged(
    sso: Console, via: Callable[..., TestClient]
) -> None:
    """From a peer not in trusted_proxies the header changes nothing (login page) and is logged."""
    browser = via(("192.0.2.10", 5000))
    response = browser.get("/", headers={HEADER: "orga"})
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    assert sso.accounts.sessions() == []
    [event] = sso.accounts.security_log()
    assert event.kind == "sso-header-ignored"
    assert event.client == "192.0.2.10"


def test_an_unknown_or_disabled_identity_gets_nothing(sso: Console, via: Callable[..., TestClient]) -> None:
    """The proxy's identity must be an active staff account: an unknown or disabled one is refused."""
    browser = via(PROXY)
    assert browser.get("/", headers={HEADER: "mallory"}).status_code == 303
    sso.accounts.set_disabled("orga", True)
    assert browser.get("/", headers={HEADER: "orga"}).status_code == 303
    assert sso.accounts.sessions() == []
    assert [e.kind for e in sso.accounts.security_log()] == ["login-failed", "login-failed"]


def test_a_new_identity_from_the_proxy_replaces_the_session(
    sso: Console, via: Callable[..., TestClient]
) -> None:
    """When the proxy names someone else on the same browser, the old session ends and a new one starts."""
    add_staff(sso, "clerk", Role.HOTLINE)
    browser = via(PROXY)
    assert browser.get("/", headers={HEADER: "orga"}).status_code == 200
    page = browser.get("/", headers={HEADER: "clerk"})
    assert page.status_code == 200
    assert [s.name for s in sso.accounts.sessions()] == ["clerk"]
    assert browser.get("/admin/users", headers={HEADER: "clerk"}).status_code == 403
