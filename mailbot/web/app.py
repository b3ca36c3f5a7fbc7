"""`create_app(console)`: the console's routes (collected from web/routes/*), middleware and error pages."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from mailbot.web.auth import CsrfRefused, Forbidden, LoginRequired, StaffRoute, note_refusal
from mailbot.web.console import Console
from mailbot.web.headers import SecurityHeaders
from mailbot.web.routes import account, admin, auth, dashboard, events, organiser
from mailbot.web.sessions import Sessions
from mailbot.web.templating import make_templates, render

# Each module exposes `routes`; the order matters only where paths overlap (none do).
ROUTE_MODULES = (auth, account, admin, dashboard, events, organiser)


def collect_routes() -> list[BaseRoute]:
    """Every route of the console: the modules' StaffRoutes, then /static."""
    routes: list[BaseRoute] = []
    for module in ROUTE_MODULES:
        for route in module.routes:
            if not isinstance(route, StaffRoute):  # its minimum role must be declared (auth.guarded/public)
                raise TypeError(f"{module.__name__}: {route!r} is not a StaffRoute")
            routes.append(route)
    routes.append(Mount("/static", app=StaticFiles(packages=[("mailbot.web", "static")]), name="static"))
    return routes


async def _login_required(request: Request, exc: Exception) -> Response:  # noqa: ARG001
    to = exc.to if isinstance(exc, LoginRequired) else "/login"
    return RedirectResponse(to, status_code=303)


async def _forbidden(request: Request, exc: Exception) -> Response:  # noqa: ARG001
    return render(request, "error.html", {"title_key": "forbidden_title", "text_key": "forbidden_text"}, 403)


async def _csrf(request: Request, exc: Exception) -> Response:  # noqa: ARG001
    await run_in_threadpool(note_refusal, request, "csrf-refused")
    return render(request, "error.html", {"title_key": "csrf_title", "text_key": "csrf_text"}, 403)


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    if status == 404:
        return render(
            request, "error.html", {"title_key": "not_found_title", "text_key": "not_found_text"}, 404
        )
    return Response(status_code=status, headers=getattr(exc, "headers", None))


def create_app(console: Console) -> Starlette:
    """The console as an ASGI app: every route's role checked, sessions from the database, safe headers."""
    app = Starlette(
        routes=collect_routes(),
        middleware=[Middleware(SecurityHeaders), Middleware(Sessions, console=console)],
        exception_handlers={
            LoginRequired: _login_required,
            Forbidden: _forbidden,
            CsrfRefused: _csrf,
            HTTPException: _http_error,
        },
    )
    app.state.console = console
    app.state.templates = make_templates(console.config.bot.language)
    return app
