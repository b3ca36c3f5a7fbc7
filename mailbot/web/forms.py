"""Small helpers for form fields and texts in routes."""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.requests import Request


def field(form: FormData, name: str) -> str:
    """A text field of a submitted form ("" when missing or a file)."""
    value = form.get(name)
    return value if isinstance(value, str) else ""


def text(request: Request, key: str, **values: object) -> str:
    """A console text in the configured language (web/texts)."""
    translate = request.app.state.templates.env.globals["t"]
    return str(translate(key, **values))
