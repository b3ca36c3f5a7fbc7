"""An event's pages: the list, the hotline's add and cancel, exports, audit (engineer h fills this in)."""

from __future__ import annotations

from mailbot.web.auth import StaffRoute

routes: list[StaffRoute] = []
