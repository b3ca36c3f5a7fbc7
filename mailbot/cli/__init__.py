"""The command line (click): one module per command group; each command parses, calls the desk, prints."""

from __future__ import annotations

from mailbot.cli.app import cli, main

__all__ = ["cli", "main"]
