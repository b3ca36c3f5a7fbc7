"""Moved to mailbot.service.watchdog: a re-export while the shell moves (issue 14), removed once unused."""

from mailbot.service.watchdog import Health, PassResult, Watchdog, check_health

__all__ = ["Health", "PassResult", "Watchdog", "check_health"]
