"""The organisers' pages: send-access, triage, a mail's decision trail (engineer h fills this in)."""

from __future__ import annotations

from mailbot.web.auth import StaffRoute

routes: list[StaffRoute] = []
