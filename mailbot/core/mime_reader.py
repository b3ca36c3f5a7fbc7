"""The email package's parser without a compiled pattern per multipart mail: the same messages, less time."""

from __future__ import annotations

import email.feedparser
import re
import types
from collections.abc import Callable
from email.message import Message
from email.policy import Policy
from typing import Any

__all__ = ["BOUNDARY_RE", "message_from_bytes"]


class _Boundary:
    """What the feedparser's boundary pattern matches: the separator as a prefix, then its fixed tail."""

    __slots__ = ("separator", "tail")

    def __init__(self, separator: str, tail: re.Pattern[str]) -> None:
        self.separator, self.tail = separator, tail

    def match(self, line: str) -> re.Match[str] | None:
        """The tail's match after the separator (the groups "end", "ws", "linesep"), or None."""
        return self.tail.match(line, len(self.separator)) if line.startswith(self.separator) else None


class _BoundaryRe:
    """`re` as our copy of the feedparser's `_parsegen` sees it: boundary patterns matched, not compiled."""

    _OPEN, _CLOSE = "(?P<sep>", ")(?P<end>"
    escape = staticmethod(re.escape)

    def __getattr__(self, name: str) -> Any:
        return getattr(re, name)

    def compile(self, pattern: Any, flags: int = 0) -> Any:
        """A `_Boundary` for the feedparser's boundary pattern; any other pattern compiled by `re`."""
        if isinstance(pattern, str) and not flags and pattern.startswith(self._OPEN):
            escaped, found, tail = pattern[len(self._OPEN) :].partition(self._CLOSE)
            separator = re.sub(r"\\(.)", r"\1", escaped, flags=re.DOTALL)
            if found and re.escape(separator) == escaped:
                return _Boundary(separator, _tail(tail))
        return re.compile(pattern, flags)


def _tail(rest: str) -> re.Pattern[str]:
    return re.compile("(?P<end>" + rest)  # the same text for every mail: re's cache holds it


BOUNDARY_RE = _BoundaryRe()


def _with_globals(function: Callable[..., Any], **names: Any) -> Any:
    """A copy of `function` that reads its module's globals with `names` replaced; the module is untouched."""
    return types.FunctionType(
        function.__code__,
        {**function.__globals__, **names},
        function.__name__,
        function.__defaults__,
        function.__closure__,
    )


class _Parser(email.feedparser.BytesFeedParser):
    """BytesFeedParser whose `_parsegen` (nested parts included) sees BOUNDARY_RE as `re`."""

    _parsegen = _with_globals(vars(email.feedparser.FeedParser)["_parsegen"], re=BOUNDARY_RE)


def message_from_bytes(raw: bytes, policy: Policy) -> Message:
    """What `email.message_from_bytes(raw, policy=policy)` returns, without compiling a boundary pattern."""
    parser = _Parser(policy=policy)
    parser.feed(raw)
    return parser.close()
