"""Who a request acts for: roles, `require()`, routes with their minimum role, CSRF, client address."""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mailbot.config.settings import Network
from mailbot.core.staff import Role, Staff
from mailbot.service.accounts import Current
from mailbot.web.console import Console

__all__ = [
    "CsrfRefused",
    "Forbidden",
    "LoginRequired",
    "Role",
    "Staff",
    "StaffRoute",
    "check_csrf",
    "client_address",
    "console_of",
    "current",
    "guarded",
    "public",
    "require",
]

Endpoint = Callable[[Request], Awaitable[Response]]
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class LoginRequired(Exception):
    """No live session: the answer is a redirect to /login (or to the second-factor step in `to`)."""

    def __init__(self, to: str = "/login") -> None:
        super().__init__(to)
        self.to = to


class Forbidden(Exception):
    """The staff member's role is too low for this page or action (answered 403, logged)."""


class CsrfRefused(Exception):
    """A form without the session's CSRF token (answered 403, logged)."""


def console_of(request: Request) -> Console:
    """The console the app was created with."""
    console: Console = request.app.state.console
    return console


def current(request: Request) -> Current | None:
    """The request's live session (resolved by the session middleware), or None."""
    found: Current | None = request.scope.get("state", {}).get("current")
    return found


def client_address(request: Request) -> str:
    """The client's address: the TCP peer, or the address a trusted proxy appended to X-Forwarded-For."""
    peer = request.client.host if request.client else ""
    if peer_is_trusted(peer, console_of(request).web.trusted_proxies):
        forwarded = request.headers.get("x-forwarded-for", "")
        last = forwarded.split(",")[-1].strip()
        if last:
            return last
    return peer


def peer_is_trusted(peer: str, proxies: Sequence[Network]) -> bool:
    """Whether the TCP peer is in one of the trusted proxies' networks ([web] trusted_proxies)."""
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False  # not an IP address (a Unix socket, the test client)
    return any(address in network for network in proxies)


def require(request: Request, role: Role) -> Staff:
    """The staff member a request acts for, if their role is at least `role`.

    Raises LoginRequired (a redirect) without a live session or while its second factor is pending, and
    Forbidden (a 403 page) when the role is too low; a refusal is written to the security log.
    """
    found = current(request)
    if found is None:
        raise LoginRequired
    if not found.session.second_factor:
        raise LoginRequired("/login/code" if found.enrolled else "/account/second-factor")
    if found.staff.role < role:
        note_refusal(request, "refused")
        raise Forbidden
    return found.staff


async def check_csrf(request: Request, expected: str) -> None:
    """Refuse an unsafe request whose form field `csrf` (or X-CSRF-Token header) is not `expected`."""
    given = request.headers.get(CSRF_HEADER)
    if given is None:
        form = await request.form()
        field = form.get(CSRF_FIELD)
        given = field if isinstance(field, str) else ""
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        raise CsrfRefused


class StaffRoute(Route):
    """A route with its minimum role (None: public): role checked, then CSRF, then the endpoint."""

    def __init__(
        self,
        path: str,
        endpoint: Endpoint,
        *,
        role: Role | None,
        methods: Sequence[str] = ("GET",),
        **kw: Any,
    ) -> None:
        self.role = role
        self.csrf = bool(UNSAFE.intersection(methods))
        super().__init__(path, self._guard(endpoint, role), methods=list(methods), **kw)

    def _guard(self, endpoint: Endpoint, role: Role | None) -> Endpoint:
        async def guarded_endpoint(request: Request) -> Response:
            if role is not None:
                await run_in_threadpool(require, request, role)
                if request.method in UNSAFE:
                    found = current(request)
                    assert found is not None  # require() passed
                    await check_csrf(request, found.session.csrf)
            return await endpoint(request)

        guarded_endpoint.__name__ = getattr(endpoint, "__name__", "endpoint")
        guarded_endpoint.__doc__ = endpoint.__doc__
        return guarded_endpoint


def note_refusal(request: Request, kind: str) -> None:
    """Write a refused request to the security log: who (if anyone), from where, what."""
    found = current(request)
    name = found.staff.name if found is not None else "-"
    what = f"{request.method} {request.url.path}"
    console_of(request).accounts.note(kind, name, client_address(request), what)


def guarded(
    path: str, endpoint: Endpoint, role: Role, methods: Sequence[str] = ("GET",), name: str | None = None
) -> StaffRoute:
    """A route staff of at least `role` may use (POST etc. also need the session's CSRF token)."""
    return StaffRoute(path, endpoint, role=role, methods=methods, name=name)


def public(
    path: str, endpoint: Endpoint, methods: Sequence[str] = ("GET",), name: str | None = None
) -> StaffRoute:
    """A route without login (/login, /healthz): it checks what it needs itself."""
    return StaffRoute(path, endpoint, role=None, methods=methods, name=name)
