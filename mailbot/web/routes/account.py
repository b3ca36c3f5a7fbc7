"""One's own account: password change, the second factor's enrolment, new recovery codes."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from mailbot.core.staff import password_problem
from mailbot.web.auth import (
    LoginRequired,
    Role,
    StaffRoute,
    check_csrf,
    client_address,
    console_of,
    current,
    guarded,
    public,
    require,
)
from mailbot.web.forms import field, text
from mailbot.web.sessions import session_token
from mailbot.web.templating import render


async def account(request: Request, *, message: str = "", error: str = "", status: int = 200) -> Response:
    """The account page: role, second factor, password change."""
    staff = require(request, Role.VIEWER)
    accounts = console_of(request).accounts
    left = await run_in_threadpool(accounts.store.recovery_codes_left, staff.name)
    found = await run_in_threadpool(accounts.account, staff.name)
    enrolled = found is not None and found.totp_secret is not None
    values = {"enrolled": enrolled, "codes_left": left, "message": message, "error": error}
    return render(request, "account.html", values, status)


async def change_password(request: Request) -> Response:
    """Change one's own password (the current one first); one's other sessions end."""
    staff = require(request, Role.VIEWER)
    console = console_of(request)
    form = await request.form()
    new = field(form, "new_password")
    if new != field(form, "repeat_password"):
        return await account(request, error=text(request, "password_mismatch"), status=400)
    if not await run_in_threadpool(console.accounts.check_password, staff.name, field(form, "password")):
        await run_in_threadpool(
            console.accounts.note, "password-change-refused", staff.name, client_address(request)
        )
        return await account(request, error=text(request, "password_wrong"), status=400)
    if problem := password_problem(staff.name, new):
        return await account(request, error=text(request, "password_refused", reason=problem), status=400)
    token = session_token(request, console)
    await run_in_threadpool(console.accounts.set_password, staff.name, new, token)
    await run_in_threadpool(console.accounts.note, "password-changed", staff.name, client_address(request))
    return await account(request, message=text(request, "password_changed"))


def _enrolling(request: Request) -> None:
    """Enrolment is for an account without a key: a login waiting for it, or a session choosing it.

    An enrolled account gets a new key only after an admin's reset: a borrowed session can't swap it.
    """
    found = current(request)
    if found is None:
        raise LoginRequired
    if found.enrolled:
        raise LoginRequired("/account" if found.session.second_factor else "/login/code")


async def enrol_form(request: Request, *, secret: str = "", error: str = "", status: int = 200) -> Response:
    """A new TOTP key (text and otpauth URI) and a field for the code that proves it was stored."""
    _enrolling(request)
    found = current(request)
    assert found is not None
    accounts = console_of(request).accounts
    secret = secret or accounts.new_totp_secret()
    values = {
        "secret": secret,
        "uri": accounts.totp_uri(secret, found.staff.name),
        "required": not found.session.second_factor,
        "error": error,
    }
    return render(request, "enrol.html", values, status)


async def enrol(request: Request) -> Response:
    """Store the key once its code is right; show the new recovery codes once."""
    _enrolling(request)
    found = current(request)
    assert found is not None
    await check_csrf(request, found.session.csrf)
    form = await request.form()
    secret = field(form, "secret")
    accounts = console_of(request).accounts
    codes = await run_in_threadpool(
        accounts.enrol, found, secret, field(form, "code"), client_address(request)
    )
    if codes is None:
        return await enrol_form(request, secret=secret, error=text(request, "enrol_failed"), status=400)
    return render(request, "recovery.html", {"codes": codes})


async def recovery_codes(request: Request) -> Response:
    """New recovery codes for one's account (the old ones are void), shown once."""
    staff = require(request, Role.VIEWER)
    accounts = console_of(request).accounts
    found = await run_in_threadpool(accounts.account, staff.name)
    if found is None or found.totp_secret is None:
        return RedirectResponse("/account/second-factor", status_code=303)
    codes = await run_in_threadpool(accounts.new_recovery_codes, staff.name)
    await run_in_threadpool(accounts.note, "recovery-codes-renewed", staff.name, client_address(request))
    return render(request, "recovery.html", {"codes": codes})


routes: list[StaffRoute] = [
    guarded("/account", account, Role.VIEWER, name="account"),
    guarded("/account/password", change_password, Role.VIEWER, methods=("POST",), name="change_password"),
    guarded("/account/recovery-codes", recovery_codes, Role.VIEWER, methods=("POST",), name="recovery_codes"),
    # Open to a login that must enrol before anything else: the endpoints check the session themselves.
    public("/account/second-factor", enrol_form, name="enrol_form"),
    public("/account/second-factor", enrol, methods=("POST",), name="enrol"),
]
