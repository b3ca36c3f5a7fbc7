"""The admins' pages: staff accounts, sessions, the security log."""

from __future__ import annotations

from mailbot.web.auth import StaffRoute

routes: list[StaffRoute] = []
