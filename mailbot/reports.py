"""Moved to mailbot.service.reports: a re-export while the shell moves (issue 14), removed once unused."""

from mailbot.service.reports import TRIAGE_OUTCOMES, inspect_text, status_text, triage_text

__all__ = ["TRIAGE_OUTCOMES", "inspect_text", "status_text", "triage_text"]
