"""A short-lived helper command (no shell): in its own process group, killed with its children when late."""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["CommandTimeoutError", "Finished", "OutputTooLargeError", "run_command"]


class CommandTimeoutError(Exception):
    """The command did not finish in time; it and every process it started were killed."""


class OutputTooLargeError(Exception):
    """The command printed more than allowed; it and every process it started were killed."""


@dataclass(frozen=True)
class Finished:
    """A command that ended by itself: its exit status (negative: killed by that signal) and its output."""

    returncode: int
    stdout: bytes = field(repr=False)  # may be a secret (an access token)


def run_command(argv: Sequence[str], *, timeout: float, max_output: int) -> Finished:
    """Run `argv` with no input, its error output discarded, and read at most `max_output` bytes of output.

    The command runs in a session of its own (start_new_session), so that a timeout, too much output or an
    interrupt kills the whole process group: a wrapper script's `sleep`, `curl` or `az` too, which
    subprocess.run's timeout would leave running (and holding the output pipe open). OSError (not found,
    not executable) is raised as it comes.
    """
    deadline = time.monotonic() + timeout
    process = subprocess.Popen(  # noqa: S603 (the administrator's own command, as configured, no shell)
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        output = _read(process, deadline, max_output)
        try:
            returncode = process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            raise CommandTimeoutError from None
    except BaseException:
        _kill_group(process)
        raise
    return Finished(returncode, output)


def _read(process: subprocess.Popen[bytes], deadline: float, max_output: int) -> bytes:
    """The command's output up to its end (the command, and all that inherited it, closed it)."""
    assert process.stdout is not None  # stdout=PIPE
    chunks: list[bytes] = []
    size = 0
    with process.stdout, selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CommandTimeoutError
            if not selector.select(left):
                continue
            chunk = os.read(process.stdout.fileno(), 65536)
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > max_output:
                raise OutputTooLargeError
            chunks.append(chunk)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL to the command's process group (its pid: it leads its own session), then reap it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
