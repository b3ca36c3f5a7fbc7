"""The organisers' pages: send the access data (preview, then progress), the triage list, a mail's trail."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from mailbot.web.auth import Role, StaffRoute, guarded
from mailbot.web.routes.pages import blocking, event_of, use_cases
from mailbot.web.templating import render

PROGRESS_SECONDS = 3  # how often console.js reloads a mailing's progress


async def _access(request: Request, template: str) -> Response:
    event = event_of(request)
    console = use_cases(request)
    configured = bool(event.access_info)
    recipients = await blocking(lambda: console.access_preview(event.id)) if configured else []
    progress = await blocking(lambda: console.access_progress(event.id))
    context = {
        "event": event,
        "configured": configured,
        "recipients": recipients,
        "progress": progress,
        "queued": request.query_params.get("queued", ""),
        "refresh": PROGRESS_SECONDS,
    }
    return render(request, template, context)


async def access_page(request: Request) -> Response:
    """Who would get the access data now (the dry run) and how far the mailing is."""
    return await _access(request, "access.html")


async def access_progress(request: Request) -> Response:
    """The mailing's progress alone (an HTML fragment console.js swaps in)."""
    return await _access(request, "access_progress.html")


async def send_access(request: Request) -> Response:
    """Queue the access data for everyone not yet served (exactly once: a second click queues nothing)."""
    event = event_of(request)
    if not event.access_info:
        raise HTTPException(409)
    console = use_cases(request)
    queued = await blocking(lambda: console.send_access(event.id))
    # Post/redirect/get: a reload shows the progress and sends nothing again.
    return RedirectResponse(f"/events/{event.id}/send-access?queued={queued}", status_code=303)


async def triage(request: Request) -> Response:
    """Mails quarantined, held, not answered or bounced, and replies that failed (as `mailbot triage`)."""
    console = use_cases(request)
    lines, failed = await blocking(console.triage)
    return render(request, "triage.html", {"lines": lines, "failed": failed, "when": console.local})


async def trail(request: Request) -> Response:
    """One mail's decision trail (as `mailbot inspect`), by its ledger id."""
    console = use_cases(request)
    ledger_id = int(request.path_params["ledger_id"])
    found = await blocking(lambda: console.trail(ledger_id))
    if found is None:
        raise HTTPException(404)
    return render(request, "trail.html", {"mail": found, "when": console.local})


_ACCESS = "/events/{event_id}/send-access"
routes: list[StaffRoute] = [
    guarded(_ACCESS, access_page, Role.ORGANISER, name="access"),
    guarded(_ACCESS, send_access, Role.ORGANISER, methods=("POST",), name="access_send"),
    guarded(f"{_ACCESS}/progress", access_progress, Role.ORGANISER, name="access_progress"),
    guarded("/triage", triage, Role.ORGANISER, name="triage"),
    guarded("/mails/{ledger_id:int}", trail, Role.ORGANISER, name="trail"),
]
