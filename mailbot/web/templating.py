"""Jinja2 for the console: autoescaping for every template, `t()`, `csrf_field()`, `may()` and `render()`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, pass_context
from jinja2.runtime import Context
from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.templating import Jinja2Templates

from mailbot.core.staff import Role
from mailbot.web.auth import CSRF_FIELD, current
from mailbot.web.i18n import Translator


@pass_context
def csrf_field(context: Context) -> Markup:
    """The hidden CSRF input every `<form method="post">` carries (the session's token; empty without one)."""
    request: Request = context["request"]
    token = request.scope.get("state", {}).get("login_csrf")  # the login form's own (no session yet)
    if token is None:
        found = current(request)
        token = found.session.csrf if found is not None else ""
    return Markup('<input type="hidden" name="{}" value="{}">').format(CSRF_FIELD, escape(token))


@pass_context
def may(context: Context, role: str) -> bool:
    """Whether the logged-in staff member has at least this role ("viewer" … "admin"): for nav and buttons."""
    found = current(context["request"])
    return found is not None and found.session.second_factor and found.staff.role >= Role.parse(role)


@pass_context
def when(context: Context, moment: datetime | None) -> str:
    """A time in the desk's time zone, as staff read it: 06.12.2026 09:30."""
    if moment is None:
        return "–"
    zone = context["request"].app.state.console.config.bot.zone
    return moment.astimezone(zone).strftime("%d.%m.%Y %H:%M")


def make_templates(language: str) -> Jinja2Templates:
    """The console's templates (web/templates), autoescaped whatever their file name."""
    env = Environment(
        loader=PackageLoader("mailbot.web", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(t=Translator(language), csrf_field=csrf_field, may=may, Role=Role)
    env.filters["when"] = when
    return Jinja2Templates(env=env)


def render(
    request: Request, name: str, context: Mapping[str, Any] | None = None, status_code: int = 200
) -> HTMLResponse:
    """A page from a template, with `staff` (or None) and `language` in its context."""
    templates: Jinja2Templates = request.app.state.templates
    found = current(request)
    values = {"staff": found.staff if found is not None and found.session.second_factor else None}
    values["language"] = request.app.state.console.config.bot.language
    values.update(context or {})
    response: HTMLResponse = templates.TemplateResponse(request, name, values, status_code=status_code)
    return response
