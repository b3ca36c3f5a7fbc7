"""The house rules hold: ruff lint and format, and mypy strict on mailbot/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    """Run a tool of this environment from the repository root."""
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, check=False, timeout=300
    )


def test_ruff_finds_nothing() -> None:
    """`ruff check` reports no finding in mailbot/, tests/ and bench/."""
    result = run("ruff", "check", "mailbot", "tests", "bench")
    assert result.returncode == 0, result.stdout + result.stderr


def test_code_is_ruff_formatted() -> None:
    """`ruff format --check` would change no file."""
    result = run("ruff", "format", "--check", "mailbot", "tests", "bench")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_passes() -> None:
    """mypy in strict mode (configured in pyproject.toml) finds no type error in mailbot/."""
    result = run("mypy")
    assert result.returncode == 0, result.stdout + result.stderr
