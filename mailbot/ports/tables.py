"""The table port: rows rendered as an aligned text table (the CLI renders with rich, cli/render.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class RenderTable(Protocol):
    """`render_table(title, header, rows, width=..., color=...)`: the rows as text under a title."""

    def __call__(
        self,
        title: str,
        header: Sequence[str],
        rows: Sequence[Sequence[str | int]],
        *,
        width: int | None = None,
        color: bool | None = None,
    ) -> str:
        """The rows as an aligned text table; ints right-aligned."""
        ...
