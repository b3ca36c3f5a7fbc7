"""The dashboard (`/`): every event's numbers and the desk's health; `/dashboard/live` refreshes it."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from mailbot.web.auth import Role, StaffRoute, console_of, guarded
from mailbot.web.routes.pages import blocking, use_cases
from mailbot.web.templating import render

REFRESH_SECONDS = 5  # how often console.js reloads the numbers during a rush


async def _numbers(request: Request) -> dict[str, object]:
    console = use_cases(request)
    board = await blocking(lambda: console.dashboard(console_of(request).clock()))
    return {"board": board, "when": console.local, "refresh": REFRESH_SECONDS}


async def dashboard(request: Request) -> Response:
    """The overview page; console.js swaps in `/dashboard/live` every few seconds (a reload works too)."""
    return render(request, "dashboard.html", await _numbers(request))


async def live(request: Request) -> Response:
    """The overview's numbers alone (an HTML fragment, autoescaped like every page)."""
    return render(request, "dashboard_live.html", await _numbers(request))


routes: list[StaffRoute] = [
    guarded("/", dashboard, Role.VIEWER, name="dashboard"),
    guarded("/dashboard/live", live, Role.VIEWER, name="dashboard_live"),
]
