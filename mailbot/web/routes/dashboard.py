"""The dashboard (`/`): every event's numbers and the desk's health (engineer h fills this in)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from mailbot.web.auth import Role, StaffRoute, guarded
from mailbot.web.templating import render


async def dashboard(request: Request) -> Response:
    """The overview page (a placeholder until the dashboard lands)."""
    return render(request, "dashboard.html")


routes: list[StaffRoute] = [guarded("/", dashboard, Role.VIEWER, name="dashboard")]
