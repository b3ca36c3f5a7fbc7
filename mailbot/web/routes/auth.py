"""Logging in and out, the second factor, one's own account, and /healthz."""

from __future__ import annotations

import hmac

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from mailbot.service.watchdog import check_health
from mailbot.web.auth import (
    CsrfRefused,
    LoginRequired,
    StaffRoute,
    check_csrf,
    client_address,
    console_of,
    current,
    public,
)
from mailbot.web.forms import field, text
from mailbot.web.sessions import clear_session_cookie, secure_cookies, session_token, set_session_cookie
from mailbot.web.templating import render

LOGIN_COOKIE = "mailbot_login"  # double-submit CSRF token of the login form (there is no session yet)


async def login_form(request: Request, *, message: str = "", status: int = 200) -> Response:
    """The login page: fields `username` and `password`."""
    console = console_of(request)
    token = console.accounts.credentials.new_token()
    request.scope.setdefault("state", {})["login_csrf"] = token
    response = render(request, "login.html", {"message": message}, status)
    response.set_cookie(
        LOGIN_COOKIE, token, httponly=True, samesite="strict", secure=secure_cookies(console), path="/login"
    )
    return response


async def login(request: Request) -> Response:
    """Check the password; a new session (new id), then the second factor where the role needs it."""
    console = console_of(request)
    form = await request.form()
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not hmac.compare_digest(field(form, "csrf").encode(), expected.encode()):
        raise CsrfRefused
    outcome = await run_in_threadpool(
        console.accounts.login, field(form, "username"), field(form, "password"), client_address(request)
    )
    if outcome.token is None:
        key = "login_throttled" if outcome.reason == "throttled" else "login_failed"
        status = 429 if outcome.reason == "throttled" else 401
        return await login_form(request, message=text(request, key), status=status)
    await run_in_threadpool(console.accounts.logout, session_token(request, console))  # the old id ends
    to = "/login/code" if outcome.second_factor else "/account/second-factor" if outcome.enrol else "/"
    response = RedirectResponse(to, status_code=303)
    set_session_cookie(response, console, outcome.token)
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


async def code_form(request: Request) -> Response:
    """The second-factor step of a login: a TOTP code or a recovery code."""
    found = current(request)
    if found is None:
        raise LoginRequired
    if found.session.second_factor:
        return RedirectResponse("/", status_code=303)
    return render(request, "code.html", {"message": ""})


async def code(request: Request) -> Response:
    """Check the second factor; the session is complete on success."""
    found = current(request)
    if found is None or not found.enrolled:
        raise LoginRequired
    await check_csrf(request, found.session.csrf)
    form = await request.form()
    console = console_of(request)
    ok = await run_in_threadpool(
        console.accounts.second_factor, found, field(form, "code"), client_address(request)
    )
    if not ok:
        return render(request, "code.html", {"message": text(request, "code_failed")}, 401)
    return RedirectResponse("/", status_code=303)


async def logout(request: Request) -> Response:
    """End the session (server-side) and forget the cookie."""
    console = console_of(request)
    found = current(request)
    if found is not None:
        await check_csrf(request, found.session.csrf)
        await run_in_threadpool(console.accounts.logout, session_token(request, console))
        await run_in_threadpool(console.accounts.note, "logout", found.staff.name, client_address(request))
    response = RedirectResponse("/login", status_code=303)
    clear_session_cookie(response, console)
    return response


async def healthz(request: Request) -> Response:
    """`mailbot health`'s verdict in one line, always 200 (the console runs whatever the bot's state)."""
    console = console_of(request)
    result = await run_in_threadpool(check_health, console.desk.db, console.config, console.clock())
    return PlainTextResponse(result.line)


routes: list[StaffRoute] = [
    public("/login", login_form, name="login_form"),
    public("/login", login, methods=("POST",), name="login"),
    public("/login/code", code_form, name="code_form"),
    public("/login/code", code, methods=("POST",), name="code"),
    public("/logout", logout, methods=("POST",), name="logout"),
    public("/healthz", healthz, name="healthz"),
]
