"""The second factor (TOTP, RFC 6238, checked with pyotp) and recovery codes on the real app and database."""

from __future__ import annotations

import re
from collections.abc import Callable

import pyotp
from starlette.testclient import TestClient

from mailbot.core.staff import Role
from mailbot.web.app import create_app
from mailbot.web.console import Console
from tests.web.conftest import Clock, add_staff, csrf_of, log_in


def _code(console: Console, secret: str) -> str:
    return pyotp.TOTP(secret).at(console.clock())


def test_an_organiser_needs_a_totp_code(console: Console, client: TestClient) -> None:
    """An organiser's password alone opens nothing: /login/code comes first; a wrong code is refused."""
    secret = add_staff(console, "orga", Role.ORGANISER)
    assert secret is not None
    response = log_in(client, "orga")
    assert response.headers["location"] == "/login/code"
    assert client.get("/").headers["location"] == "/login/code"
    form = client.get("/login/code")
    wrong = str((int(_code(console, secret)) + 1) % 1_000_000).zfill(6)
    assert client.post("/login/code", data={"code": wrong, "csrf": csrf_of(form.text)}).status_code == 401
    assert client.get("/").status_code == 303
    right = client.post("/login/code", data={"code": _code(console, secret), "csrf": csrf_of(form.text)})
    assert right.headers["location"] == "/"
    assert client.get("/").status_code == 200
    kinds = [e.kind for e in reversed(console.accounts.security_log())]
    assert kinds == ["login-failed", "login"]


def test_a_totp_code_is_good_once(console: Console, browsers_pair: tuple[TestClient, TestClient]) -> None:
    """A code used for one login is refused for a second one (no replay within its 30 s)."""
    secret = add_staff(console, "orga", Role.ORGANISER)
    first, second = browsers_pair
    assert log_in(first, "orga", totp_secret=secret).headers["location"] == "/"
    assert log_in(second, "orga", totp_secret=secret).status_code == 401
    clock: Clock = console.clock  # type: ignore[assignment]
    clock.advance(seconds=30)
    assert log_in(second, "orga", totp_secret=secret).headers["location"] == "/"


def test_an_organiser_without_totp_enrols_before_anything_else(console: Console, client: TestClient) -> None:
    """An organiser without a key is sent to enrol; a code from the shown key completes the login."""
    add_staff(console, "orga", Role.ORGANISER, totp=False)
    assert log_in(client, "orga").headers["location"] == "/account/second-factor"
    assert client.get("/").headers["location"] == "/account/second-factor"
    page = client.get("/account/second-factor")
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', page.text)
    assert secret is not None
    uri = re.search(r'id="totp-uri" href="([^"]+)"', page.text) or re.search(
        r'href="(otpauth://[^"]+)"', page.text
    )
    assert uri is not None
    assert pyotp.parse_uri(uri.group(1).replace("&amp;", "&")).secret == secret.group(1)
    bad = client.post(
        "/account/second-factor",
        data={"secret": secret.group(1), "code": "000000", "csrf": csrf_of(page.text)},
    )
    assert bad.status_code == 400
    done = client.post(
        "/account/second-factor",
        data={"secret": secret.group(1), "code": _code(console, secret.group(1)), "csrf": csrf_of(page.text)},
    )
    assert done.status_code == 200
    codes = re.findall(r"<li><code>([a-z2-9]{4}-[a-z2-9]{4})</code></li>", done.text)
    assert len(codes) == 10
    assert client.get("/").status_code == 200
    account = console.accounts.account("orga")
    assert account is not None
    assert account.totp_secret == secret.group(1)


def test_a_recovery_code_works_once(console: Console, browsers_pair: tuple[TestClient, TestClient]) -> None:
    """A recovery code replaces the TOTP code for one login; the same code again is refused."""
    add_staff(console, "orga", Role.ORGANISER)
    [code, *_] = console.accounts.new_recovery_codes("orga")
    first, second = browsers_pair
    for browser, expected in ((first, 303), (second, 401)):
        log_in(browser, "orga")
        form = browser.get("/login/code")
        typed = code.upper().replace("-", " ")  # as people type it
        response = browser.post("/login/code", data={"code": typed, "csrf": csrf_of(form.text)})
        assert response.status_code == expected
    assert first.get("/").status_code == 200
    assert second.get("/").status_code == 303
    assert console.accounts.store.recovery_codes_left("orga") == 9


def test_no_second_factor_when_the_setting_is_empty(console_factory: Callable[..., Console]) -> None:
    """`[web] require_second_factor = []`: an admin logs in with the password alone."""
    console = console_factory(require_second_factor=())
    add_staff(console, "boss", Role.ADMIN)
    with TestClient(create_app(console), base_url="http://127.0.0.1:8080", follow_redirects=False) as browser:
        assert log_in(browser, "boss").headers["location"] == "/"
        assert browser.get("/admin/users").status_code == 200


def test_a_pending_login_expires(console: Console, client: TestClient) -> None:
    """A login waiting for its code ends after 10 minutes: the code alone opens nothing then."""
    secret = add_staff(console, "orga", Role.ORGANISER)
    assert secret is not None
    log_in(client, "orga")
    form = client.get("/login/code")
    clock: Clock = console.clock  # type: ignore[assignment]
    clock.advance(minutes=11)
    response = client.post("/login/code", data={"code": _code(console, secret), "csrf": csrf_of(form.text)})
    assert response.headers["location"] == "/login"
    assert client.get("/").headers["location"] == "/login"


def test_an_enrolled_key_is_not_replaced_from_a_session(
    staff_client: Callable[[Role], TestClient], console: Console
) -> None:
    """An organiser already enrolled can't set a new key (a borrowed session would keep the account)."""
    browser = staff_client(Role.ORGANISER)
    account = console.accounts.account("organiser-1")
    assert account is not None
    assert browser.get("/account/second-factor").headers["location"] == "/account"
    page = browser.get("/account")
    secret = pyotp.random_base32()
    form = {"secret": secret, "code": _code(console, secret), "csrf": csrf_of(page.text)}
    assert browser.post("/account/second-factor", data=form).headers["location"] == "/account"
    after = console.accounts.account("organiser-1")
    assert after is not None
    assert after.totp_secret == account.totp_secret
