"""Every route × every role (and anonymous) × its methods, on SQLite and PostgreSQL; CSRF refusals."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from mailbot.core.model import Channel
from mailbot.core.staff import Role
from mailbot.web.app import create_app
from mailbot.web.auth import StaffRoute
from mailbot.web.console import Console
from tests.conftest import EVENT
from tests.web.conftest import csrf_of

PUBLIC = None  # no login needed: the route checks what it needs itself
# The declared minimum role of every (path, method) of the console: the specification the server is held to.
# A new route fails test_every_route_is_in_the_table until it is added here.
EXPECTED: dict[tuple[str, str], Role | None] = {
    ("/login", "GET"): PUBLIC,
    ("/login", "POST"): PUBLIC,
    ("/login/code", "GET"): PUBLIC,
    ("/login/code", "POST"): PUBLIC,
    ("/logout", "POST"): PUBLIC,
    ("/healthz", "GET"): PUBLIC,
    ("/", "GET"): Role.VIEWER,
    # One's own account (g); the enrolment is open to a login that must enrol first (it checks the session).
    ("/account", "GET"): Role.VIEWER,
    ("/account/password", "POST"): Role.VIEWER,
    ("/account/recovery-codes", "POST"): Role.VIEWER,
    ("/account/second-factor", "GET"): PUBLIC,
    ("/account/second-factor", "POST"): PUBLIC,
    # Admin pages (g).
    ("/admin/users", "GET"): Role.ADMIN,
    ("/admin/users/add", "POST"): Role.ADMIN,
    ("/admin/users/role", "POST"): Role.ADMIN,
    ("/admin/users/disable", "POST"): Role.ADMIN,
    ("/admin/users/enable", "POST"): Role.ADMIN,
    ("/admin/users/password", "POST"): Role.ADMIN,
    ("/admin/users/reset-second-factor", "POST"): Role.ADMIN,
    ("/admin/users/end-sessions", "POST"): Role.ADMIN,
    ("/admin/users/remove", "POST"): Role.ADMIN,
    ("/admin/sessions", "GET"): Role.ADMIN,
    ("/admin/sessions/end", "POST"): Role.ADMIN,
    ("/admin/security-log", "GET"): Role.ADMIN,
    # The dashboard and an event's list (h): every account reads; the search is a POST (no names in URLs).
    ("/dashboard/live", "GET"): Role.VIEWER,
    ("/events/{event_id}", "GET"): Role.VIEWER,
    ("/events/{event_id}", "POST"): Role.VIEWER,
    # The hotline: add and cancel (one, or several after a preview).
    ("/events/{event_id}/add", "POST"): Role.HOTLINE,
    ("/events/{event_id}/registrations/{registration_id:int}/cancel", "GET"): Role.HOTLINE,
    ("/events/{event_id}/registrations/{registration_id:int}/cancel", "POST"): Role.HOTLINE,
    ("/events/{event_id}/bulk-cancel", "POST"): Role.HOTLINE,
    ("/events/{event_id}/bulk-cancel/confirm", "POST"): Role.HOTLINE,
    # Organisers: exports, audit history, send-access, triage and a mail's decision trail.
    ("/events/{event_id}/export.csv", "GET"): Role.ORGANISER,
    ("/events/{event_id}/export.xlsx", "GET"): Role.ORGANISER,
    ("/events/{event_id}/history", "GET"): Role.ORGANISER,
    ("/events/{event_id}/registrations/{registration_id:int}/history", "GET"): Role.ORGANISER,
    ("/events/{event_id}/send-access", "GET"): Role.ORGANISER,
    ("/events/{event_id}/send-access", "POST"): Role.ORGANISER,
    ("/events/{event_id}/send-access/progress", "GET"): Role.ORGANISER,
    ("/triage", "GET"): Role.ORGANISER,
    ("/mails/{ledger_id:int}", "GET"): Role.ORGANISER,
}
# Who tries each route: nobody logged in, then each role.
WHO: tuple[Role | None, ...] = (None, *Role)
PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")


def declared(app_routes: list[object]) -> dict[tuple[str, str], Role | None]:
    """(path, method) -> the minimum role each route declares (HEAD comes with GET; /static is files)."""
    found: dict[tuple[str, str], Role | None] = {}
    for route in app_routes:
        if not isinstance(route, Route):
            continue  # the /static mount
        assert isinstance(route, StaffRoute), f"{route.path} is not a StaffRoute"
        for method in route.methods or ():
            if method != "HEAD":
                found[(route.path, method)] = route.role
    return found


@pytest.fixture
def seeded(console: Console) -> dict[str, str]:
    """A registration and a processed mail; path parameter name -> the value a route's URL is filled with."""
    added = console.desk.admin_register(
        EVENT["id"],
        name="Erika Mustermann",
        email="erika@example.org",
        phone=None,
        received_at=None,
        channel=Channel.PHONE,
        actor="test",
        notify=False,
    )
    assert added.registration_id is not None
    with console.desk.db.transaction() as tx:
        ledger_id = tx.add_ledger(
            folder="INBOX",
            uidvalidity=1,
            uid=1,
            message_id="<m1@example.org>",
            internaldate=console.clock(),
            size=100,
            outcome="not-registration",
            reason="no keyword",
            rule_hits=[("keyword", "no keyword")],
            sender="someone@example.org",
            subject="Hallo",
            now=console.clock(),
        )
    return {
        "event_id": str(EVENT["id"]),
        "registration_id": str(added.registration_id),
        "ledger_id": str(ledger_id),
    }


def url_of(path: str, values: dict[str, str]) -> str:
    """The route's path with its parameters filled in from `values`."""

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        assert name in values, f"{path}: give test_roles.seeded a value for the path parameter {name!r}"
        return values[name]

    return PARAM.sub(fill, path)


def refused(response: object, who: Role | None) -> bool:
    """Anonymous: a redirect to /login; a logged-in role too low: 403."""
    status = response.status_code  # type: ignore[attr-defined]
    if who is None:
        return status == 303 and response.headers["location"] == "/login"  # type: ignore[attr-defined]
    return bool(status == 403)


def test_every_route_is_in_the_table(console: Console) -> None:
    """app.routes and the expectations table list the same (path, method)s with the same minimum roles."""
    found = declared(create_app(console).routes)
    assert sorted(set(found) - set(EXPECTED)) == [], "new routes: add them to EXPECTED"
    assert sorted(set(EXPECTED) - set(found)) == [], "EXPECTED lists routes the app no longer has"
    wrong = {key: (role, EXPECTED[key]) for key, role in found.items() if EXPECTED[key] != role}
    assert wrong == {}, "declared role differs from the table (declared, expected)"


@pytest.fixture
def browser_for(
    console: Console, staff_client: Callable[[Role], TestClient]
) -> Iterator[Callable[[Role | None], TestClient]]:
    """`browser_for(role)`: a browser logged in with that role (None: a browser nobody logged in with)."""
    anonymous: list[TestClient] = []

    def make(who: Role | None) -> TestClient:
        if who is not None:
            return staff_client(who)
        browser = TestClient(create_app(console), base_url="http://127.0.0.1:8080", follow_redirects=False)
        browser.__enter__()
        anonymous.append(browser)
        return browser

    yield make
    for browser in anonymous:
        browser.__exit__(None, None, None)


def _token(browser: TestClient) -> str:
    """The session's CSRF token, as the pages put it into every form."""
    return csrf_of(browser.get("/", follow_redirects=True).text)


@pytest.mark.parametrize("who", WHO, ids=lambda who: "anonymous" if who is None else who.label)
def test_role_matrix(
    who: Role | None,
    console: Console,
    seeded: dict[str, str],
    browser_for: Callable[[Role | None], TestClient],
) -> None:
    """Each guarded route refuses `who` below its minimum role (logged as refused), lets the rest through."""
    browser = browser_for(who)
    refusals_logged = 0
    problems = []
    for (path, method), minimum in sorted(EXPECTED.items(), key=lambda item: (item[0][1], item[0][0])):
        if minimum is PUBLIC:
            continue
        url = url_of(path, seeded)
        allowed = who is not None and who >= minimum
        if method == "GET":
            response = browser.get(url)
        else:
            # A valid token: a refusal must come from the role, not from CSRF.
            data = {"csrf": _token(browser)} if who is not None else {}
            response = browser.post(url, data=data)
        if allowed:
            login_redirect = response.status_code == 303 and response.headers["location"].startswith("/login")
            if response.status_code in (403, 500) or login_redirect:
                problems.append(f"{method} {url}: {response.status_code} for {who.label}, expected allowed")
            elif method == "GET" and response.status_code != 200:
                problems.append(f"GET {url}: {response.status_code} for {who.label}, expected 200")
            if method == "POST" and browser.get("/").status_code != 200:
                browser = browser_for(who)  # the action ended this session (e.g. ending one's own sessions)
        else:
            if not refused(response, who):
                label = "anonymous" if who is None else who.label
                problems.append(f"{method} {url}: {response.status_code} for {label}, expected refused")
            refusals_logged += who is not None
    assert problems == []
    if refusals_logged:
        assert who is not None
        refused_entries = [
            entry
            for entry in console.accounts.security_log()
            if entry.kind == "refused" and entry.name == _name_of(browser)
        ]
        assert len(refused_entries) >= refusals_logged


def _name_of(browser: TestClient) -> str:
    """The staff name a browser is logged in as (from its session, through the console)."""
    console: Console = browser.app.state.console  # type: ignore[attr-defined]
    found = console.accounts.current(browser.cookies.get("mailbot_session"))
    assert found is not None
    return found.staff.name


@pytest.mark.parametrize("token", ["missing", "wrong"])
def test_post_without_the_session_csrf_token_is_refused(
    token: str, console: Console, seeded: dict[str, str], staff_client: Callable[[Role], TestClient]
) -> None:
    """Every guarded POST by an admin without (or with a wrong) CSRF token is refused 403 and logged."""
    browser = staff_client(Role.ADMIN)
    data = {} if token == "missing" else {"csrf": "not-the-token"}
    posts = sorted(path for (path, method), role in EXPECTED.items() if method == "POST" and role)
    for path in posts:
        response = browser.post(url_of(path, seeded), data=data)
        assert response.status_code == 403, f"POST {path} without the CSRF token: {response.status_code}"
    logged = [entry for entry in console.accounts.security_log() if entry.kind == "csrf-refused"]
    assert len(logged) >= len(posts)
    assert browser.get("/").status_code == 200, "a refused form must not end the session"


def test_logout_without_csrf_token_keeps_the_session(staff_client: Callable[[Role], TestClient]) -> None:
    """A cross-site POST /logout (no token) is refused and the session stays; with the token it ends."""
    browser = staff_client(Role.VIEWER)
    assert browser.post("/logout", data={}).status_code == 403
    assert browser.get("/").status_code == 200
    response = browser.post("/logout", data={"csrf": _token(browser)})
    assert (response.status_code, response.headers["location"]) == (303, "/login")
    after = browser.get("/")
    assert (after.status_code, after.headers["location"]) == (303, "/login")


def test_login_without_the_form_token_is_refused(console: Console, client: TestClient) -> None:
    """POST /login without the login form's token (a forged cross-site login) is refused, no session made."""
    assert console.accounts.add("anna", Role.VIEWER, "a long enough password") is None
    response = client.post("/login", data={"username": "anna", "password": "a long enough password"})
    assert response.status_code == 403
    assert client.get("/").status_code == 303
