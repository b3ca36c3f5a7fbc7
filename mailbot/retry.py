"""Moved to mailbot.service.retry: a re-export while the shell moves (issue 14), removed once unused."""

from mailbot.service.retry import Retried, retry

__all__ = ["Retried", "retry"]
