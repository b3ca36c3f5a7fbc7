"""Reply texts, German by default, English shipped; loaded by name and language."""

from __future__ import annotations

from importlib import resources

NAMES = (
    "confirmed",
    "waitlisted",
    "duplicate-confirmed",
    "duplicate-waitlisted",
    "cancelled",
    "not-registered",
    "status-confirmed",
    "status-waitlisted",
    "promoted",
    "limit",
    "alert-paused",
)


def load_templates(language: str) -> dict[str, str]:
    """The shipped reply templates of a language ("de" or "en")."""
    folder = resources.files("mailbot.templates").joinpath(language)
    return {name: folder.joinpath(f"{name}.txt").read_text(encoding="utf-8") for name in NAMES}
