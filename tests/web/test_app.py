"""The console's skeleton: routes, headers, login and logout, require(), /healthz, escaping."""

from __future__ import annotations

from collections.abc import Callable

from starlette.testclient import TestClient

from mailbot.core.staff import Role
from mailbot.web.app import create_app
from mailbot.web.auth import StaffRoute
from mailbot.web.console import Console
from tests.web.conftest import add_staff, csrf_of, log_in


def test_every_route_declares_its_minimum_role(console: Console) -> None:
    """Every route but /static is a StaffRoute with a declared role; only login, logout, healthz public."""
    app = create_app(console)
    public = set()
    for route in app.routes:
        if getattr(route, "path", "") == "/static":
            continue
        assert isinstance(route, StaffRoute), route
        if route.role is None:
            public.add(route.path)
    # The second factor's enrolment is open to a login that must enrol first (it checks the session itself).
    assert public == {"/login", "/login/code", "/logout", "/healthz", "/account/second-factor"}


def test_security_headers_on_every_answer(client: TestClient) -> None:
    """Pages, redirects and errors carry CSP without inline script, DENY framing, nosniff and no-store."""
    for path in ("/login", "/", "/no-such-page", "/healthz"):
        response = client.get(path)
        headers = response.headers
        assert "script-src 'self'" in headers["content-security-policy"], path
        assert "unsafe-inline" not in headers["content-security-policy"], path
        assert "frame-ancestors 'none'" in headers["content-security-policy"], path
        assert headers["x-frame-options"] == "DENY", path
        assert headers["x-content-type-options"] == "nosniff", path
        assert headers["referrer-policy"] == "no-referrer", path
        assert headers["cache-control"] == "no-store", path


def test_pages_have_no_inline_script(staff_client: Callable[[Role], TestClient]) -> None:
    """The pages load their one script from /static (the CSP would block an inline one)."""
    browser = staff_client(Role.ADMIN)
    for path in ("/login", "/"):
        page = browser.get(path, follow_redirects=True).text
        assert '<script src="http://127.0.0.1:8080/static/console.js" defer></script>' in page
        assert "<script>" not in page
    assert browser.get("/static/console.js").status_code == 200


def test_not_logged_in_is_sent_to_login(client: TestClient) -> None:
    """A page without a session answers a redirect to /login."""
    response = client.get("/")
    assert response.status_code == 303
    assert response.headers["location"] == "/login"


def test_login_form_has_the_contract_fields(client: TestClient) -> None:
    """GET /login shows a form with fields username and password (and the CSRF token)."""
    page = client.get("/login")
    assert page.status_code == 200
    assert 'name="username"' in page.text
    assert 'name="password"' in page.text
    assert csrf_of(page.text)


def test_login_then_logout_ends_the_session(console: Console, client: TestClient) -> None:
    """A hotline clerk logs in (303 to /), sees the page, logs out, and the old cookie opens nothing."""
    add_staff(console, "clerk", Role.HOTLINE)
    response = log_in(client, "clerk")
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    cookie = dict(client.cookies)
    page = client.get("/")
    assert page.status_code == 200
    assert "clerk" in page.text
    client.post("/logout", data={"csrf": csrf_of(page.text)})
    assert console.accounts.sessions() == []
    client.cookies.update(cookie)  # a copy of the old cookie is worth nothing
    assert client.get("/").status_code == 303


def test_healthz_answers_health_verdict_without_login(client: TestClient) -> None:
    """GET /healthz answers 200 with `mailbot health`'s verdict (a fresh desk: no poll yet)."""
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.text.startswith("unhealthy: no successful poll yet")


def test_a_name_with_script_is_escaped(console: Console, client: TestClient) -> None:
    """A staff name shown on a page is escaped, never markup."""
    add_staff(console, "x", Role.VIEWER)
    page = client.get("/login")
    response = client.post(
        "/login",
        data={"username": "<script>alert(1)</script>", "password": "x", "csrf": csrf_of(page.text)},
    )
    assert response.status_code == 401
    assert "<script>alert(1)</script>" not in response.text
