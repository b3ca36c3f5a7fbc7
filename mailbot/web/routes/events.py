"""An event's pages: the list with the hotline's add form, cancel (one or several), exports, audit history."""

from __future__ import annotations

from datetime import datetime
from functools import partial

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from mailbot.core.listing import ListQuery, RegistrationLine
from mailbot.core.model import Event, ReplyStatus, Status
from mailbot.errors import MailbotError
from mailbot.service import AdminRegistration
from mailbot.service.console import Cancelled, StaffConsole
from mailbot.web.auth import Role, StaffRoute, console_of, guarded, require
from mailbot.web.routes.pages import blocking, event_of, field, ids_of, int_param, use_cases
from mailbot.web.templating import render

STATUSES = tuple(s.value for s in Status)


async def _query(request: Request) -> ListQuery:
    """The list's status filter and page from the query string; a search only from a form (POST): a name
    or an address never goes into a URL (logs, browser history)."""
    if request.method == "POST":
        form = await request.form()
        status, search, page = field(form, "status"), field(form, "q")[:200], field(form, "page")
        number = int(page) if page.isdigit() and len(page) < 10 else 1
    else:
        status, search, number = request.query_params.get("status", ""), "", int_param(request, "page")
    return ListQuery(status=status if status in STATUSES else None, search=search, page=number)


async def _list_page(
    request: Request, event: Event, *, form: dict[str, str] | None = None, **extra: object
) -> Response:
    """The event's page: its list (as the query string asks) and the add form."""
    console = use_cases(request)
    query = await _query(request) if form is None else ListQuery()
    page = await blocking(lambda: console.registrations(event.id, query))
    context = {
        "event": event,
        "page": page,
        "query": query,
        "statuses": STATUSES,
        "form": form or {},
        "when": console.local,
        **extra,
    }
    status_code = 400 if "error" in extra or "error_key" in extra else 200
    return render(request, "event.html", context, status_code)


async def event_page(request: Request) -> Response:
    """An event's registrations in arrival order (filter, search by POST, pages of 100) and the add form."""
    return await _list_page(request, event_of(request))


def outcome_words(request: Request, done: AdminRegistration) -> str:
    """What the hotline tells the caller: "Platz 37 – bestätigt", "Warteliste Platz 4", or the duplicate."""
    t = request.app.state.templates.env.globals["t"]
    decision = done.decision
    if decision.waitlist_position:
        place = t("outcome_waitlisted", place=decision.waitlist_position)
    elif decision.seat:
        place = t("outcome_confirmed", seat=decision.seat)
    else:
        place = t(f"status_{decision.status}") if decision.status else ""
    if decision.reply is ReplyStatus.DUPLICATE:
        return str(t("outcome_duplicate", name=done.name, position=decision.position, held=place))
    return str(place)


def _received(text: str, console: StaffConsole) -> datetime | None:
    """The call's time from the form (local time of the desk; with an offset if given); None: now."""
    if not text:
        return None
    moment = datetime.fromisoformat(text)  # ValueError: not a time
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=console.tz)


async def add(request: Request) -> Response:
    """Record a phone registration (as `mailbot add`) and answer at once with the outcome in words."""
    event = event_of(request)
    staff = require(request, Role.HOTLINE)
    data = await request.form()
    form = {key: field(data, key) for key in ("name", "phone", "email", "received_at")}
    console = use_cases(request)
    if not form["name"]:
        return await _list_page(request, event, form=form, error_key="add_need_name")
    if not form["phone"] and not form["email"]:
        return await _list_page(request, event, form=form, error_key="add_need_contact")
    try:
        received_at = _received(form["received_at"], console)
    except ValueError:
        return await _list_page(request, event, form=form, error_key="add_bad_time")

    def record() -> AdminRegistration:
        return console.add_by_phone(
            event.id,
            name=form["name"],
            phone=form["phone"] or None,
            email=form["email"] or None,
            received_at=received_at,
            staff=staff.name,
        )

    try:
        done = await blocking(record)
    except MailbotError as exc:
        return await _list_page(request, event, form=form, error=str(exc))
    return await _list_page(
        request,
        event,
        outcome=outcome_words(request, done),
        mailed=done.mailed,
        warning=done.warning,
        added=done.registration_id,
    )


async def cancel_confirm(request: Request) -> Response:
    """The confirmation step of a cancellation: the registration, and a button that cancels it."""
    event = event_of(request)
    console = use_cases(request)
    registration_id = int(request.path_params["registration_id"])
    line = await blocking(lambda: console.registration(event.id, registration_id))
    if line is None:
        raise HTTPException(404)
    return render(request, "cancel.html", {"event": event, "line": line, "when": console.local})


async def cancel(request: Request) -> Response:
    """Cancel one registration (as `mailbot cancel --id`) and show who moved up."""
    event = event_of(request)
    staff = require(request, Role.HOTLINE)
    console = use_cases(request)
    registration_id = int(request.path_params["registration_id"])
    line = await blocking(lambda: console.registration(event.id, registration_id))
    if line is None:
        raise HTTPException(404)
    done = await blocking(lambda: console.cancel(event.id, registration_id, staff=staff.name))
    results = [(line, done)]
    return render(request, "cancelled.html", {"event": event, "results": results, "when": console.local})


async def bulk_preview(request: Request) -> Response:
    """Several registrations selected in the list: each shown, and one button that cancels them all."""
    event = event_of(request)
    require(request, Role.HOTLINE)
    console = use_cases(request)
    ids = ids_of(await request.form())
    lines = await blocking(lambda: [console.registration(event.id, i) for i in ids])
    found = [line for line in lines if line is not None]
    return render(request, "bulk_cancel.html", {"event": event, "lines": found, "when": console.local})


async def bulk_cancel(request: Request) -> Response:
    """Cancel the previewed registrations one by one: each its own permission check, use-case, audit entry."""
    event = event_of(request)
    console = use_cases(request)
    results: list[tuple[RegistrationLine, Cancelled]] = []
    for registration_id in ids_of(await request.form()):
        staff = require(request, Role.HOTLINE)  # per row: a role changed meanwhile stops the rest
        done = await blocking(partial(_cancel_one, console, event.id, registration_id, staff.name))
        if done is not None:
            results.append(done)
    return render(request, "cancelled.html", {"event": event, "results": results, "when": console.local})


def _cancel_one(
    console: StaffConsole, event_id: str, registration_id: int, staff: str
) -> tuple[RegistrationLine, Cancelled] | None:
    """One row of a bulk cancellation: the registration as it was, and what its cancellation did."""
    line = console.registration(event_id, registration_id)
    if line is None:
        return None
    return line, console.cancel(event_id, registration_id, staff=staff)


async def _export(request: Request, fmt: str, media_type: str) -> Response:
    event = event_of(request)
    console = use_cases(request)
    data = await blocking(lambda: console.export(event.id, fmt, console_of(request).clock()))
    return Response(
        data,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{event.id}.{fmt}"'},
    )


async def export_csv(request: Request) -> Response:
    """The event's registrations as `mailbot export --event ID` writes them (CSV, UTF-8 with BOM)."""
    return await _export(request, "csv", "text/csv; charset=utf-8")


async def export_xlsx(request: Request) -> Response:
    """The event's registrations as `mailbot export --event ID --format xlsx` writes them."""
    return await _export(request, "xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


async def history(request: Request) -> Response:
    """The event's audit history, newest first, by pages of 100."""
    event = event_of(request)
    console = use_cases(request)
    page = int_param(request, "page")
    lines, total = await blocking(lambda: console.history(event.id, page=page))
    context = {
        "event": event,
        "lines": lines,
        "total": total,
        "page": page,
        "line": None,
        "when": console.local,
    }
    return render(request, "history.html", context)


async def registration_history(request: Request) -> Response:
    """One registration's audit history."""
    event = event_of(request)
    console = use_cases(request)
    registration_id = int(request.path_params["registration_id"])
    line = await blocking(lambda: console.registration(event.id, registration_id))
    if line is None:
        raise HTTPException(404)
    lines, total = await blocking(lambda: console.history(event.id, registration_id=registration_id))
    context = {"event": event, "lines": lines, "total": total, "page": 1, "line": line, "when": console.local}
    return render(request, "history.html", context)


_ONE = "/events/{event_id}/registrations/{registration_id:int}"
routes: list[StaffRoute] = [
    guarded("/events/{event_id}", event_page, Role.VIEWER, name="event"),
    guarded("/events/{event_id}", event_page, Role.VIEWER, methods=("POST",), name="event_search"),
    guarded("/events/{event_id}/add", add, Role.HOTLINE, methods=("POST",), name="add"),
    guarded(f"{_ONE}/cancel", cancel_confirm, Role.HOTLINE, name="cancel_confirm"),
    guarded(f"{_ONE}/cancel", cancel, Role.HOTLINE, methods=("POST",), name="cancel"),
    guarded("/events/{event_id}/bulk-cancel", bulk_preview, Role.HOTLINE, methods=("POST",), name="bulk"),
    guarded(
        "/events/{event_id}/bulk-cancel/confirm", bulk_cancel, Role.HOTLINE, methods=("POST",), name="bulk_do"
    ),
    guarded("/events/{event_id}/export.csv", export_csv, Role.ORGANISER, name="export_csv"),
    guarded("/events/{event_id}/export.xlsx", export_xlsx, Role.ORGANISER, name="export_xlsx"),
    guarded("/events/{event_id}/history", history, Role.ORGANISER, name="history"),
    guarded(f"{_ONE}/history", registration_history, Role.ORGANISER, name="registration_history"),
]
