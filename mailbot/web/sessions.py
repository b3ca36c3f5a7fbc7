"""The session cookie: each request's server-side session; single sign-on from a trusted proxy."""

from __future__ import annotations

import ipaddress
import logging

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mailbot.core.staff import mask_client
from mailbot.service.accounts import Current
from mailbot.web.auth import client_address, peer_is_trusted
from mailbot.web.console import Console

log = logging.getLogger("mailbot.web")

PLAIN_COOKIE = "mailbot_session"
SECURE_COOKIE = "__Host-mailbot_session"  # the __Host- prefix: Secure, Path=/, no Domain (RFC 6265bis)
_SKIP = ("/static/", "/healthz")


def secure_cookies(console: Console) -> bool:
    """Secure cookies unless the console is plain HTTP on loopback (no https public_url, loopback host)."""
    web = console.web
    if (web.public_url or "").startswith("https://"):
        return True
    try:
        return not ipaddress.ip_address(web.host).is_loopback
    except ValueError:
        return web.host != "localhost"


def cookie_name(console: Console) -> str:
    """The session cookie's name (the __Host- prefix needs Secure)."""
    return SECURE_COOKIE if secure_cookies(console) else PLAIN_COOKIE


def session_token(request: Request, console: Console) -> str | None:
    """The session token the request's cookie carries."""
    return request.cookies.get(cookie_name(console))


def set_session_cookie(response: Response, console: Console, token: str) -> None:
    """Give the browser a session: HttpOnly, SameSite=Strict, Secure (see secure_cookies), no Max-Age."""
    response.set_cookie(
        cookie_name(console),
        token,
        httponly=True,
        samesite="strict",
        secure=secure_cookies(console),
        path="/",
    )


def clear_session_cookie(response: Response, console: Console) -> None:
    """Make the browser forget its session cookie."""
    response.delete_cookie(
        cookie_name(console), httponly=True, samesite="strict", secure=secure_cookies(console), path="/"
    )


class Sessions:
    """Puts the request's live session (`Current` or None) into `request.state.current`."""

    def __init__(self, app: ASGIApp, console: Console) -> None:
        self.app = app
        self.console = console

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or str(scope.get("path", "")).startswith(_SKIP):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        token = session_token(request, self.console)
        found, new_token = await run_in_threadpool(self._resolve, request, token)
        scope.setdefault("state", {})["current"] = found
        if new_token is None:
            await self.app(scope, receive, send)
            return

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                cookie = Response()
                set_session_cookie(cookie, self.console, new_token)
                headers = MutableHeaders(scope=message)
                for value in cookie.headers.getlist("set-cookie"):
                    headers.append("set-cookie", value)
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    def _resolve(self, request: Request, token: str | None) -> tuple[Current | None, str | None]:
        """The live session, and a new token when single sign-on opened one."""
        accounts = self.console.accounts
        found = accounts.current(token)
        header = self.console.web.trusted_user_header
        vouched = request.headers.get(header) if header else None
        if vouched is None:
            return found, None
        peer = request.client.host if request.client else ""
        if not peer_is_trusted(peer, self.console.web.trusted_proxies):
            # Anybody can send the header: only a trusted proxy's (which overwrites it) says who this is.
            log.warning("ignored %s from untrusted peer %s", header, mask_client(peer))
            accounts.note("sso-header-ignored", "-", peer, f"{header} from an untrusted peer")
            return found, None
        name = vouched.strip()
        if found is not None and found.staff.name == name:
            return found, None
        accounts.logout(token)  # another identity now: the old session ends
        new_token = accounts.trusted_login(name, client_address(request))
        return accounts.current(new_token), new_token
