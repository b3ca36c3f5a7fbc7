"""What the page routes share: the use-cases of a request, its event, its form, times in the desk's zone."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request

from mailbot.core.model import Event
from mailbot.service.console import StaffConsole
from mailbot.web.auth import console_of

T = TypeVar("T")


def use_cases(request: Request) -> StaffConsole:
    """The console's use-cases on the desk the app was created with."""
    return StaffConsole(console_of(request).desk)


def event_of(request: Request) -> Event:
    """The configured event named in the path (404 for any other id)."""
    event = use_cases(request).event(request.path_params["event_id"])
    if event is None:
        raise HTTPException(404)
    return event


def int_param(request: Request, name: str, default: int = 1) -> int:
    """A whole number from the query string (the default when absent or not a number)."""
    value = request.query_params.get(name, "")
    return int(value) if value.isdigit() and len(value) < 10 else default


def field(form: FormData, name: str) -> str:
    """A form field's text, stripped ("" when absent or a file)."""
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def ids_of(form: FormData, name: str = "ids") -> list[int]:
    """The registration ids selected in a form (checkboxes or hidden fields), each once, in order."""
    found: list[int] = []
    for value in form.getlist(name):
        if isinstance(value, str) and value.isdigit() and len(value) < 10 and int(value) not in found:
            found.append(int(value))
    return found


async def blocking(call: Callable[[], T]) -> T:
    """Run a use-case (database, blocking) off the event loop."""
    return await run_in_threadpool(call)


def local(request: Request, moment: datetime | None) -> str:
    """A moment as staff read it: local time of the desk's zone, to the minute ("" for none)."""
    if moment is None:
        return ""
    return use_cases(request).local(moment)
