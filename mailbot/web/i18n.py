"""The console's texts: `web/texts/*.toml`, one table per key with `de` and `en` (German is the default)."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from importlib import resources


def load_texts(language: str) -> Mapping[str, str]:
    """Every text of the console in `language` ("de" or "en"); a missing language falls back to de."""
    texts: dict[str, str] = {}
    for entry in sorted(resources.files("mailbot.web").joinpath("texts").iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".toml"):
            continue
        for key, value in tomllib.loads(entry.read_text(encoding="utf-8")).items():
            if key in texts:
                raise ValueError(f"console text {key!r} is defined twice (texts/{entry.name})")
            texts[key] = value.get(language) or value["de"]
    return texts


class Translator:
    """`t("key")` in templates and routes; an unknown key is an error (a typo must not reach staff)."""

    def __init__(self, language: str) -> None:
        self.language = language
        self.texts = load_texts(language)

    def __call__(self, key: str, **values: object) -> str:
        """The text of `key`, with `{name}` placeholders filled from `values`."""
        text = self.texts[key]
        return text.format(**values) if values else text
