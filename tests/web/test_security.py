"""The console's security properties on the real app and database: cookies, CSRF, throttling, sessions."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator

import pytest
from starlette.testclient import TestClient

from mailbot.core.staff import Role
from mailbot.web.app import create_app
from mailbot.web.console import Console, open_console
from mailbot.web.serve import listening
from mailbot.web.sessions import secure_cookies
from tests.web.conftest import PASSWORD, Clock, add_staff, csrf_of, log_in, web_config

NEW_PASSWORD = "another long passphrase"


@pytest.fixture
def browsers(console: Console) -> Iterator[Callable[[], TestClient]]:
    """More browsers on the same console (each with its own cookies)."""
    opened: list[TestClient] = []

    def make() -> TestClient:
        browser = TestClient(create_app(console), base_url="http://127.0.0.1:8080", follow_redirects=False)
        browser.__enter__()
        opened.append(browser)
        return browser

    yield make
    for browser in opened:
        browser.__exit__(None, None, None)


def _logged_in(response: object) -> bool:
    return getattr(response, "status_code", 0) == 303 and getattr(response, "headers", {})["location"] == "/"


def test_session_cookie_flags_on_loopback(console: Console, client: TestClient) -> None:
    """On plain HTTP loopback the session cookie is HttpOnly and SameSite=Strict, without Secure."""
    add_staff(console, "clerk", Role.HOTLINE)
    cookie = log_in(client, "clerk").headers["set-cookie"]
    assert cookie.startswith("mailbot_session=")
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
    assert "Secure" not in cookie


def test_session_cookie_is_secure_behind_tls(console_factory: Callable[..., Console]) -> None:
    """With an https public_url the cookie is Secure, HttpOnly, SameSite=Strict, with the __Host- prefix."""
    console = console_factory(public_url="https://desk.example.org")
    add_staff(console, "clerk", Role.HOTLINE)
    app = create_app(console)
    with TestClient(app, base_url="https://desk.example.org", follow_redirects=False) as browser:
        cookie = log_in(browser, "clerk").headers["set-cookie"]
    assert cookie.startswith("__Host-mailbot_session=")
    assert "Secure" in cookie
    assert "HttpOnly" in cookie
    assert "samesite=strict" in cookie.lower()


def test_a_host_given_to_mailbot_web_decides_the_cookie_flags(db_url: str) -> None:
    """`mailbot web --host` with a public address makes cookies Secure though [web] host is loopback."""
    config = web_config(db_url)
    assert config.web.host == "127.0.0.1"
    public = open_console(listening(config, "192.0.2.10", None))
    local = open_console(listening(config, None, 8081))
    try:
        assert secure_cookies(public)
        assert not secure_cookies(local)
        assert listening(config, None, 8081).web.port == 8081
    finally:
        public.desk.db.dispose()
        local.desk.db.dispose()


def test_a_form_without_the_csrf_token_is_refused(console: Console, client: TestClient) -> None:
    """A POST without (or with a wrong) CSRF token answers 403, changes nothing and is in the security log."""
    add_staff(console, "clerk", Role.HOTLINE)
    log_in(client, "clerk")
    form = {"password": PASSWORD, "new_password": NEW_PASSWORD, "repeat_password": NEW_PASSWORD}
    assert client.post("/account/password", data=form).status_code == 403
    assert client.post("/account/password", data={**form, "csrf": "forged"}).status_code == 403
    assert console.accounts.check_password("clerk", PASSWORD)
    kinds = [event.kind for event in console.accounts.security_log()]
    assert kinds.count("csrf-refused") == 2
    page = client.get("/account")
    response = client.post("/account/password", data={**form, "csrf": csrf_of(page.text)})
    assert response.status_code == 200
    assert console.accounts.check_password("clerk", NEW_PASSWORD)


def test_the_login_form_needs_its_csrf_token(console: Console, client: TestClient) -> None:
    """A login posted without the form's token (a cross-site login) is refused before any password check."""
    add_staff(console, "clerk", Role.HOTLINE)
    response = client.post("/login", data={"username": "clerk", "password": PASSWORD})
    assert response.status_code == 403
    assert "set-cookie" not in response.headers
    assert console.accounts.sessions() == []
    assert [(e.kind, e.detail) for e in console.accounts.security_log()] == [("csrf-refused", "POST /login")]


def test_login_throttled_per_account(console: Console, client: TestClient) -> None:
    """After 5 failed logins for an account, even the right password is refused for the window, then works."""
    add_staff(console, "clerk", Role.HOTLINE)
    for _ in range(5):
        assert log_in(client, "clerk", "wrong password!").status_code == 401
    refused = log_in(client, "clerk")
    assert refused.status_code == 429
    assert console.accounts.sessions() == []
    clock: Clock = console.clock  # type: ignore[assignment]
    clock.advance(minutes=16)
    assert _logged_in(log_in(client, "clerk"))


def test_login_throttled_per_client(console_factory: Callable[..., Console]) -> None:
    """After [web] login_attempts_per_client failures from one address, that address can't log in at all."""
    console = console_factory(login_attempts_per_client=3)
    add_staff(console, "clerk", Role.HOTLINE)
    with TestClient(create_app(console), base_url="http://127.0.0.1:8080", follow_redirects=False) as browser:
        for name in ("anna", "bert", "carl"):
            assert log_in(browser, name, "guess guess guess").status_code == 401
        assert log_in(browser, "clerk").status_code == 429
    other = TestClient(create_app(console), client=("192.0.2.7", 5000), follow_redirects=False)
    with other:
        assert _logged_in(log_in(other, "clerk"))


def test_unknown_names_answer_like_wrong_passwords(console: Console, client: TestClient) -> None:
    """An unknown name, a wrong password and a disabled account get the same answer (no account probing)."""
    add_staff(console, "clerk", Role.HOTLINE)
    add_staff(console, "gone", Role.HOTLINE)
    console.accounts.set_disabled("gone", True)
    answers = [
        log_in(client, "nobody"),
        log_in(client, "clerk", "wrong password!"),
        log_in(client, "gone"),
    ]
    assert {a.status_code for a in answers} == {401}
    messages = {a.text.split('role="alert">')[1].split("<")[0] for a in answers}
    assert len(messages) == 1


def test_every_login_attempt_is_logged_without_passwords(console: Console, client: TestClient) -> None:
    """Failed and successful logins are in the security log; unknown names masked; no password anywhere."""
    add_staff(console, "clerk", Role.HOTLINE)
    log_in(client, "clerk", "Tr0ub4dor&3-guess")
    log_in(client, "my-secret-password-typed-as-name", "x")
    log_in(client, "clerk")
    events = console.accounts.security_log()
    assert [(e.kind, e.name) for e in reversed(events)] == [
        ("login-failed", "clerk"),
        ("login-failed", "my…(32)"),
        ("login", "clerk"),
    ]
    text = repr(events)
    assert "Tr0ub4dor" not in text
    assert PASSWORD not in text
    assert "secret-password" not in text


def test_a_new_session_id_at_every_login(console: Console, client: TestClient) -> None:
    """Logging in again gives a new session id and ends the one the browser had."""
    add_staff(console, "clerk", Role.HOTLINE)
    log_in(client, "clerk")
    first = client.cookies["mailbot_session"]
    log_in(client, "clerk")
    second = client.cookies["mailbot_session"]
    assert first != second
    assert len(console.accounts.sessions()) == 1
    assert console.accounts.current(first) is None


def test_sessions_are_stored_hashed(console: Console, client: TestClient) -> None:
    """The database holds a hash of the cookie's value, never the value itself."""
    add_staff(console, "clerk", Role.HOTLINE)
    log_in(client, "clerk")
    token = client.cookies["mailbot_session"]
    [stored] = console.accounts.sessions()
    assert stored.key != token
    assert token not in repr(stored)


def test_idle_timeout(console: Console, client: TestClient) -> None:
    """A session unused for [web] session_idle_minutes ends; one in use stays."""
    add_staff(console, "clerk", Role.HOTLINE)
    log_in(client, "clerk")
    clock: Clock = console.clock  # type: ignore[assignment]
    for _ in range(3):
        clock.advance(minutes=20)
        assert client.get("/").status_code == 200
    clock.advance(minutes=31)
    assert client.get("/").status_code == 303
    assert console.accounts.sessions() == []


def test_absolute_timeout(console: Console, client: TestClient) -> None:
    """Every session ends [web] session_absolute_hours after its login, however busy."""
    add_staff(console, "clerk", Role.HOTLINE)
    log_in(client, "clerk")
    clock: Clock = console.clock  # type: ignore[assignment]
    hours = console.web.session_absolute_hours
    for _ in range(hours * 3 - 1):
        clock.advance(minutes=20)
        assert client.get("/").status_code == 200
    clock.advance(minutes=20)
    assert client.get("/").status_code == 303


def test_password_change_ends_the_other_sessions(
    console: Console, client: TestClient, browsers: Callable[[], TestClient]
) -> None:
    """Changing one's password keeps this session and ends the same person's others."""
    add_staff(console, "clerk", Role.HOTLINE)
    other = browsers()
    log_in(other, "clerk")
    log_in(client, "clerk")
    page = client.get("/account")
    form = {"password": PASSWORD, "new_password": NEW_PASSWORD, "repeat_password": NEW_PASSWORD}
    assert client.post("/account/password", data={**form, "csrf": csrf_of(page.text)}).status_code == 200
    assert client.get("/").status_code == 200
    assert other.get("/").status_code == 303


def test_disabling_an_account_ends_its_sessions(
    staff_client: Callable[[Role], TestClient], console: Console, browsers: Callable[[], TestClient]
) -> None:
    """An admin disables an account: its open session ends at once and it can't log in."""
    admin = staff_client(Role.ADMIN)
    add_staff(console, "clerk", Role.HOTLINE)
    clerk = browsers()
    log_in(clerk, "clerk")
    page = admin.get("/admin/users")
    response = admin.post("/admin/users/disable", data={"name": "clerk", "csrf": csrf_of(page.text)})
    assert response.status_code == 200
    assert clerk.get("/").status_code == 303
    assert log_in(clerk, "clerk").status_code == 401


def test_admins_end_anyones_sessions(
    staff_client: Callable[[Role], TestClient], console: Console, browsers: Callable[[], TestClient]
) -> None:
    """An admin ends a staff member's sessions (all at once, or one from the sessions page)."""
    admin = staff_client(Role.ADMIN)
    add_staff(console, "clerk", Role.HOTLINE)
    first, second = browsers(), browsers()
    log_in(first, "clerk")
    log_in(second, "clerk")
    page = admin.get("/admin/sessions")
    assert page.text.count("clerk") == 2
    key = next(s.key for s in console.accounts.sessions() if s.name == "clerk")
    admin.post("/admin/sessions/end", data={"session": key, "csrf": csrf_of(page.text)})
    assert sorted(b.get("/").status_code for b in (first, second)) == [200, 303]
    page = admin.get("/admin/users")
    admin.post("/admin/users/end-sessions", data={"name": "clerk", "csrf": csrf_of(page.text)})
    assert [b.get("/").status_code for b in (first, second)] == [303, 303]
    assert admin.get("/").status_code == 200
    assert [e.detail for e in console.accounts.security_log() if e.kind.startswith("account-end")] == [
        f"by {next(s.name for s in console.accounts.sessions())}"
    ]


def test_a_too_low_role_is_refused_and_logged(
    staff_client: Callable[[Role], TestClient], console: Console
) -> None:
    """A hotline clerk on an admin page gets 403, and the refusal is in the security log."""
    clerk = staff_client(Role.HOTLINE)
    response = clerk.get("/admin/users")
    assert response.status_code == 403
    refusals = [e for e in console.accounts.security_log() if e.kind == "refused"]
    assert [(e.name, e.detail) for e in refusals] == [("hotline-1", "GET /admin/users")]


def test_names_are_escaped_in_pages(staff_client: Callable[[Role], TestClient], console: Console) -> None:
    """`<script>alert(1)</script>` typed as a name appears escaped in the security log and in errors."""
    admin = staff_client(Role.ADMIN)
    evil = "<script>alert(1)</script>"
    with TestClient(create_app(console), base_url="http://127.0.0.1:8080", follow_redirects=False) as other:
        log_in(other, evil[:3] + "x", "some password")  # shown masked: "<s…(4)"
    page = admin.get("/admin/security-log")
    assert "&lt;s…(4)" in page.text
    assert "<s…" not in page.text
    form = {"name": evil, "role": "viewer", "csrf": csrf_of(page.text)}
    response = admin.post("/admin/users/add", data=form)
    assert response.status_code == 400
    assert evil not in response.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text


def test_timed_out_sessions_are_swept(console: Console, browsers: Callable[[], TestClient]) -> None:
    """Sessions nobody presents again are deleted once timed out (at the next login or sessions list)."""
    add_staff(console, "clerk", Role.HOTLINE)
    add_staff(console, "other", Role.HOTLINE)
    log_in(browsers(), "clerk")
    clock: Clock = console.clock  # type: ignore[assignment]
    clock.advance(minutes=31)
    log_in(browsers(), "other")
    assert [s.name for s in console.accounts.sessions()] == ["other"]


def test_english_texts_with_language_en(db_url: str, clock: Clock) -> None:
    """`[bot] language = "en"`: the console speaks English (German is the default)."""
    config = web_config(db_url, language="en")
    console = open_console(config, clock=clock)
    try:
        with TestClient(create_app(console), base_url="http://127.0.0.1:8080") as browser:
            page = browser.get("/login").text
    finally:
        console.desk.db.dispose()
    assert '<html lang="en">' in page
    assert "User name" in page
    assert "Benutzername" not in page


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the write lock of a SQLite file
def test_a_page_does_not_wait_for_the_write_lock(console: Console, client: TestClient, db_url: str) -> None:
    """SQLite: while another process holds the write lock (a pass's batch), a logged-in page still answers."""
    add_staff(console, "clerk", Role.HOTLINE)
    log_in(client, "clerk")
    holder = sqlite3.connect(db_url.removeprefix("sqlite:///"), timeout=0)
    try:
        holder.execute("BEGIN IMMEDIATE")
        started = time.monotonic()
        assert client.get("/account").status_code == 200
        assert time.monotonic() - started < 5  # the busy timeout is 30 s: a page that waited would take that
    finally:
        holder.rollback()
        holder.close()
