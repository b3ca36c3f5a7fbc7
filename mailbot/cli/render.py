"""The CLI's terminal output with rich (its only importer): tables rendered to text, a progress bar."""

from __future__ import annotations

import io
import shutil
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from types import TracebackType
from typing import Generic, TextIO, TypeVar, overload

from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

T = TypeVar("T")

# Only a rule under the header, in ASCII: the text is the same in a terminal, a pipe, a log or a mail.
_RULE_UNDER_HEADER = box.Box("    \n    \n -- \n    \n    \n    \n    \n    \n", ascii=True)
_UNLIMITED = 10_000  # characters: rich needs a width; the table itself is only as wide as its content
_MAX_TEXT_WIDTH = 40  # longer text (an event title) wraps within its column


def render_table(
    title: str,
    header: Sequence[str],
    rows: Sequence[Sequence[str | int]],
    *,
    width: int | None = None,
    color: bool | None = None,
) -> str:
    """The rows as an aligned text table under a title; columns of ints are right-aligned.

    ``width=None``: the terminal's width when stdout is a terminal, else unlimited (a pipe, a log or a test
    gets every row on one line). ``color=None``: bold header only when stdout is a terminal (and $NO_COLOR is
    unset). Cells are plain text, never rich markup: a title like "[Workshop]" prints as written.
    """
    terminal = _isatty(sys.stdout)
    if color is None:
        color = terminal
    if width is None:
        width = shutil.get_terminal_size().columns if terminal else _UNLIMITED
    buffer = io.StringIO()
    console = Console(
        file=buffer,
        width=width,
        force_terminal=color,
        color_system="standard" if color else None,
        highlight=False,
        emoji=False,
    )
    table = Table(
        title=Text(title, style="bold" if color else "") if title else None,
        title_justify="left",
        header_style="bold" if color else "",
        box=_RULE_UNDER_HEADER,
        show_edge=False,
        pad_edge=False,
        padding=(0, 1, 0, 0),  # with the box's blank divider: two spaces between columns
    )
    for i, name in enumerate(header):
        # A column of ints (an empty cell among them is a gap, e.g. under a second line of a row).
        if any(isinstance(row[i], int) for row in rows) and all(
            row[i] == "" or isinstance(row[i], int) for row in rows
        ):
            # Wrappable: a narrow terminal breaks the header ("replies / pending"), never a number.
            table.add_column(Text(name), justify="right")
        elif i == 0:
            table.add_column(Text(name), no_wrap=True)  # ids are copied from here: never wrap or cut them
        else:
            table.add_column(Text(name), overflow="fold", max_width=_MAX_TEXT_WIDTH)
    for row in rows:
        table.add_row(*(Text(str(cell)) for cell in row))
    console.print(table)
    return "\n".join(line.rstrip() for line in buffer.getvalue().rstrip("\n").splitlines())


class ProgressBar(Generic[T]):
    """A transient progress bar on a terminal, fed by iterating over it or by calling it (see progress())."""

    def __init__(
        self, iterable: Iterable[T] | None, total: int | None, description: str, delay: float, file: TextIO
    ) -> None:
        self._iterable: Iterable[T] = () if iterable is None else iterable
        self._done = 0
        self._bar: Progress | None = None
        self._timer: threading.Timer | None = None
        if not _isatty(file):
            return  # a pipe, a file, cron, a test runner: print nothing at all
        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn() if total is not None else TextColumn("{task.completed}"),
            TimeRemainingColumn(),
            console=Console(file=file),
            transient=True,  # erased when the work is done: only the command's result stays on screen
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._task = self._bar.add_task(description, total=total)
        # Short work shows no bar at all: the timer starts it once the work has taken `delay` seconds (a
        # timer, not a check between items, so one slow first item still gets its bar).
        self._timer = threading.Timer(delay, self._bar.start)
        self._timer.daemon = True
        self._timer.start()

    def __iter__(self) -> Iterator[T]:
        try:
            for item in self._iterable:
                yield item
                self.advance()
        finally:
            self.close()

    def __call__(self) -> None:
        """One item done (the callback form: ``on_sent=tick``)."""
        self.advance()

    def advance(self, steps: int = 1) -> None:
        """``steps`` items done."""
        self._done += steps
        if self._bar is not None:
            self._bar.update(self._task, completed=self._done)

    @property
    def done(self) -> int:
        """How many items were counted so far."""
        return self._done

    def close(self) -> None:
        """Stop the timer and erase the bar; idempotent, and done at the end of the iteration or ``with``."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer.join()  # if it is starting the bar right now, let it finish before stopping it
            self._timer = None
        if self._bar is not None:
            self._bar.stop()  # a no-op when the bar never started
            self._bar = None

    def __enter__(self) -> ProgressBar[T]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


@overload
def progress(
    iterable: Iterable[T],
    total: int | None,
    description: str,
    *,
    delay: float = ...,
    file: TextIO | None = ...,
) -> ProgressBar[T]: ...


@overload
def progress(
    iterable: None = None,
    *,
    total: int | None,
    description: str,
    delay: float = ...,
    file: TextIO | None = ...,
) -> ProgressBar[None]: ...


def progress(
    iterable: Iterable[T] | None = None,
    total: int | None = None,
    description: str = "",
    *,
    delay: float = 1.0,
    file: TextIO | None = None,
) -> ProgressBar[T] | ProgressBar[None]:
    """A progress bar on stderr, shown only if stderr is a terminal and the work takes over ``delay`` seconds.

    ``total`` is the number of items (None: unknown; the bar then just counts). The bar is transient: it is
    erased when the iteration ends or is broken off, or when the ``with`` block is left (also on an
    exception or Ctrl-C). stderr not a terminal (a pipe, cron, a test): no output at all. Two forms:

        for person in progress(people, len(people), "sending access data"):
            send(person)

        with progress(total=len(rows), description="importing") as tick:
            importer.run(rows, on_row=tick)  # tick() counts one item; tick.advance(n) counts n
    """
    return ProgressBar(iterable, total, description, delay, sys.stderr if file is None else file)


def _isatty(file: TextIO) -> bool:
    try:
        return file.isatty()
    except ValueError:  # a closed stream
        return False
