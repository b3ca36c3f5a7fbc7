"""The admins' pages: staff accounts (add, role, disable, password, second factor, sessions), security log."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from mailbot.core.staff import Role, Staff
from mailbot.service.accounts import Accounts
from mailbot.web.auth import StaffRoute, client_address, console_of, guarded, require
from mailbot.web.forms import field, text
from mailbot.web.templating import render

SECURITY_LOG_LINES = 500


async def users(request: Request, *, message: str = "", error: str = "", status: int = 200) -> Response:
    """Every staff account with its actions, and the form for a new one."""
    require(request, Role.ADMIN)
    accounts = console_of(request).accounts
    found = await run_in_threadpool(accounts.accounts)
    values = {"accounts": found, "roles": list(Role), "message": message, "error": error}
    return render(request, "admin_users.html", values, status)


def _act(request: Request, staff: Staff, what: str, name: str, done: bool) -> None:
    """Note an admin's change of an account in the security log (who did what to whom)."""
    kind = f"account-{what}" if done else f"account-{what}-refused"
    console_of(request).accounts.note(kind, name, client_address(request), f"by {staff.name}")


async def add_user(request: Request) -> Response:
    """Create an account (an empty password: single sign-on only)."""
    staff = require(request, Role.ADMIN)
    form = await request.form()
    accounts = console_of(request).accounts
    name = field(form, "name").strip()
    try:
        role = Role.parse(field(form, "role"))
    except ValueError as exc:
        return await users(request, error=text(request, "user_refused", reason=str(exc)), status=400)
    password = field(form, "password") or None
    problem = await run_in_threadpool(accounts.add, name, role, password)
    await run_in_threadpool(_act, request, staff, "added", name, problem is None)
    if problem:
        return await users(request, error=text(request, "user_refused", reason=problem), status=400)
    return await users(request, message=text(request, "user_done", what=f"{name} ({role.label})"))


def _account_action(
    what: str, action: Callable[[Accounts, str, Request, dict[str, str]], str | None]
) -> Callable[[Request], Awaitable[Response]]:
    """A POST endpoint acting on the account named in the form's `name` (never one's own)."""

    async def endpoint(request: Request) -> Response:
        staff = require(request, Role.ADMIN)
        form = await request.form()
        values = {key: field(form, key) for key in form}
        name = values.get("name", "")
        accounts = console_of(request).accounts
        if name == staff.name:
            problem: str | None = text(request, "user_not_yourself")
        elif await run_in_threadpool(accounts.account, name) is None:
            problem = text(request, "user_unknown")
        else:
            problem = await run_in_threadpool(action, accounts, name, request, values)
        await run_in_threadpool(_act, request, staff, what, name, problem is None)
        if problem:
            return await users(request, error=text(request, "user_refused", reason=problem), status=400)
        return await users(request, message=text(request, "user_done", what=f"{what}: {name}"))

    endpoint.__name__ = what.replace("-", "_")
    return endpoint


def _set_role(accounts: Accounts, name: str, _: Request, form: dict[str, str]) -> str | None:
    try:
        role = Role.parse(form.get("role", ""))
    except ValueError as exc:
        return str(exc)
    accounts.set_role(name, role)
    return None


def _disable(accounts: Accounts, name: str, _: Request, __: dict[str, str]) -> str | None:
    accounts.set_disabled(name, True)
    return None


def _enable(accounts: Accounts, name: str, _: Request, __: dict[str, str]) -> str | None:
    accounts.set_disabled(name, False)
    return None


def _password(accounts: Accounts, name: str, _: Request, form: dict[str, str]) -> str | None:
    return accounts.set_password(name, form.get("password", ""))


def _reset_second_factor(accounts: Accounts, name: str, _: Request, __: dict[str, str]) -> str | None:
    accounts.reset_second_factor(name)
    return None


def _end_sessions(accounts: Accounts, name: str, _: Request, __: dict[str, str]) -> str | None:
    accounts.end_sessions(name)
    return None


def _remove(accounts: Accounts, name: str, _: Request, __: dict[str, str]) -> str | None:
    accounts.remove(name)
    return None


async def sessions(request: Request) -> Response:
    """Every live session (who, since when, last active, from where), each with an end button."""
    require(request, Role.ADMIN)
    found = await run_in_threadpool(console_of(request).accounts.sessions)
    return render(request, "admin_sessions.html", {"sessions": found})


async def end_session(request: Request) -> Response:
    """End one session (its key from the sessions page)."""
    staff = require(request, Role.ADMIN)
    form = await request.form()
    accounts = console_of(request).accounts
    key = field(form, "session")
    ended = [s for s in await run_in_threadpool(accounts.sessions) if s.key == key]
    if ended:
        await run_in_threadpool(accounts.store.end_session, key)
        await run_in_threadpool(_act, request, staff, "session-ended", ended[0].name, True)
    return await sessions(request)


async def security_log(request: Request) -> Response:
    """The newest security events: logins (failed or not), throttling, refusals, account changes."""
    require(request, Role.ADMIN)
    events = await run_in_threadpool(console_of(request).accounts.security_log, SECURITY_LOG_LINES)
    return render(request, "admin_security.html", {"events": events})


_ACTIONS = {
    "role": _set_role,
    "disable": _disable,
    "enable": _enable,
    "password": _password,
    "reset-second-factor": _reset_second_factor,
    "end-sessions": _end_sessions,
    "remove": _remove,
}

routes: list[StaffRoute] = [
    guarded("/admin/users", users, Role.ADMIN, name="admin_users"),
    guarded("/admin/users/add", add_user, Role.ADMIN, methods=("POST",), name="admin_user_add"),
    *(
        guarded(f"/admin/users/{what}", _account_action(what, action), Role.ADMIN, methods=("POST",))
        for what, action in _ACTIONS.items()
    ),
    guarded("/admin/sessions", sessions, Role.ADMIN, name="admin_sessions"),
    guarded("/admin/sessions/end", end_session, Role.ADMIN, methods=("POST",), name="admin_session_end"),
    guarded("/admin/security-log", security_log, Role.ADMIN, name="admin_security_log"),
]
