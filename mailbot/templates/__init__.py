"""Reply texts, German by default, English shipped; loaded by name and language."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

NAMES = (
    "confirmed",
    "waitlisted",
    "duplicate-confirmed",
    "duplicate-waitlisted",
    "cancelled",
    "confirm-cancel",
    "not-registered",
    "status-confirmed",
    "status-waitlisted",
    "promoted",
    "limit",
    "alert-paused",
    "access",
    "reminder",
    "not-open",
    "closed",
)


def load_templates(language: str) -> dict[str, str]:
    """The shipped reply templates of a language ("de" or "en")."""
    folder = resources.files("mailbot.templates").joinpath(language)
    return {name: folder.joinpath(f"{name}.txt").read_text(encoding="utf-8") for name in NAMES}


def load_overrides(folder: str | None) -> dict[str, str]:
    """Templates an event overrides: `NAME.txt` files in its templates_dir (other names are ignored)."""
    if folder is None:
        return {}
    found = {}
    for name in NAMES:
        path = Path(folder) / f"{name}.txt"
        if path.is_file():
            found[name] = path.read_text(encoding="utf-8")
    return found
