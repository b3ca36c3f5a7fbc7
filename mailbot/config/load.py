"""Reading config.toml: tomllib, then every table checked against its keys; ConfigError names the key."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mailbot.config import checks, keys
from mailbot.config.limits import (
    CONFIG_FILE_BYTES,
    TEXT_FILE_BYTES,
    FileProblem,
    read_small_file,
    read_text_file,
    too_long,
)
from mailbot.config.settings import (
    CONFIG_ENV,
    DEFAULT_CONFIG_PATH,
    BotSettings,
    Config,
    DatabaseSettings,
    WebSettings,
)
from mailbot.config.transport import imap_settings, smtp_settings
from mailbot.core.keyword import canonical, contains
from mailbot.core.model import Event
from mailbot.errors import ConfigError

__all__ = ["load_config", "parse_config", "resolve_config_path"]


def resolve_config_path(cli_value: str | None, env: Mapping[str, str] | None = None) -> str:
    """The file to read: ``--config PATH`` if given, else ``$MAILBOT_CONFIG``, else ``config.toml`` here."""
    if cli_value is not None:
        return cli_value
    environ = os.environ if env is None else env
    return environ.get(CONFIG_ENV) or DEFAULT_CONFIG_PATH


def load_config(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Config:
    """Read and validate the TOML file at ``path``; ConfigError names the first problem and its key."""
    shown = os.fspath(path)
    try:
        data = tomllib.loads(read_small_file(shown, CONFIG_FILE_BYTES).decode("utf-8"))
    except FileProblem as problem:
        raise ConfigError(shown, "file", str(problem)) from None
    except FileNotFoundError:
        raise ConfigError(shown, "file", "not found") from None
    except PermissionError:
        raise ConfigError(shown, "file", "permission denied") from None
    except OSError as error:
        raise ConfigError(shown, "file", error.strerror or str(error)) from None
    except UnicodeDecodeError:
        raise ConfigError(shown, "file", "is not UTF-8 text (TOML files must be UTF-8)") from None
    except tomllib.TOMLDecodeError as error:
        # The parser's message names the line and column; keep it on one line for log files.
        raise ConfigError(shown, "file", " ".join(str(error).split())) from None
    return parse_config(data, shown, env)


def parse_config(data: Mapping[str, object], path: str, env: Mapping[str, str] | None = None) -> Config:
    """Validate already-parsed TOML data (``path`` is only used in messages); env defaults to os.environ."""
    environ = os.environ if env is None else env
    for name, value in data.items():
        if name not in keys.TABLES and name != "events":
            if isinstance(value, dict):
                raise ConfigError(path, f"[{name}]", "unknown table")
            if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
                raise ConfigError(path, f"[[{name}]]", "unknown table")
            raise ConfigError(path, name, "unknown key")
    tables = {
        name: _read_table(path, f"[{name}]", _table(path, data, name), spec)
        for name, spec in keys.TABLES.items()
    }
    return Config(
        path=path,
        imap=imap_settings(path, tables["imap"], environ),
        smtp=smtp_settings(path, tables["smtp"], environ),
        database=DatabaseSettings(**tables["database"]),
        bot=_bot(path, tables["bot"]),
        events=_events(path, data),
        web=_web(path, tables["web"]),
    )


def _table(path: str, data: Mapping[str, object], name: str) -> Mapping[str, object]:
    """The raw table ``[name]``; an optional table that is absent reads as empty."""
    if name not in data:
        if name in keys.OPTIONAL_TABLES:
            return {}
        raise ConfigError(path, f"[{name}]", "missing")
    value = data[name]
    if not isinstance(value, dict):
        raise ConfigError(path, f"[{name}]", "must be a table")
    return value


def _read_table(
    path: str, label: str, raw: Mapping[str, object], spec: Mapping[str, keys.Key]
) -> dict[str, Any]:
    """Check every key of one table against its spec; the result has a value (or default) for each."""
    for key in raw:
        if key not in spec:  # before "missing": a typo like "hots" is the cause, "host missing" the effect
            raise ConfigError(path, f"{label} {key}", "unknown key")
    values: dict[str, Any] = {}
    for key, rule in spec.items():
        if key not in raw:
            if rule.default is keys.REQUIRED:
                raise ConfigError(path, f"{label} {key}", "missing")
            values[key] = rule.default
            continue
        long = too_long(raw[key], rule.max_chars)
        if long:
            raise ConfigError(path, f"{label} {key}", long)
        try:
            values[key] = rule.check(raw[key])
        except checks.Invalid as invalid:
            raise ConfigError(path, f"{label} {key}", invalid.problem) from None
    return values


def _bot(path: str, values: dict[str, Any]) -> BotSettings:
    bot = BotSettings(**values)
    if bot.require_authenticated_sender and not bot.authserv_id:
        # Without it any Authentication-Results header would do, and anyone can write one (RFC 8601 §5).
        raise ConfigError(
            path,
            "[bot] authserv_id",
            "missing: require_authenticated_sender = true trusts only the Authentication-Results of your "
            "receiving server; set its authserv-id (the first word of the headers it adds)",
        )
    return bot


def _web(path: str, values: dict[str, Any]) -> WebSettings:
    web = WebSettings(**values)
    if web.trusted_user_header is not None and not web.trusted_proxies:
        # Anyone who reaches the console could name themselves in the header: only a proxy may set it.
        raise ConfigError(
            path,
            "[web] trusted_proxies",
            "missing: trusted_user_header is believed only from these addresses (your reverse proxy)",
        )
    if web.session_absolute_hours * 60 < web.session_idle_minutes:
        raise ConfigError(
            path, "[web] session_idle_minutes", "must not be longer than session_absolute_hours"
        )
    return web


def _keyword_key(keyword: str) -> tuple[str, ...]:
    """A keyword as the matcher sees it (case, spaces, 8.10 vs 08.10., ü/ue both ways): keyword.canonical."""
    key = canonical(keyword)
    if not key:
        raise ValueError("empty keyword")
    return key


def _event(path: str, where: str, values: dict[str, Any]) -> Event:
    """One event with its cross-key checks; files named in it are relative to the config file."""
    base = Path(path).parent if not path.startswith("<") else Path.cwd()
    info_file = values.pop("access_info_file")
    if info_file is not None:
        if values["access_info"]:
            raise ConfigError(
                path, f"{where} access_info_file", "give access_info or access_info_file, not both"
            )
        values["access_info"] = read_text_file(
            path, f"{where} access_info_file", base / info_file, TEXT_FILE_BYTES
        )
    if values["templates_dir"] is not None:
        folder = base / values["templates_dir"]
        if not folder.is_dir():
            raise ConfigError(path, f"{where} templates_dir", "is not a directory")
        values["templates_dir"] = str(folder)
    event = Event(**values)
    if event.ends_at is not None and event.ends_at <= event.starts_at:
        raise ConfigError(path, f"{where} ends_at", "must be after starts_at")
    if event.opens_at is not None and event.closes_at is not None and event.closes_at <= event.opens_at:
        raise ConfigError(path, f"{where} closes_at", "must be after opens_at")
    if event.send_access_at is not None and not event.access_info:
        raise ConfigError(path, f"{where} send_access_at", "needs access_info or access_info_file")
    return event


def _events(path: str, data: Mapping[str, object]) -> tuple[Event, ...]:
    if "events" not in data:
        raise ConfigError(path, "[[events]]", "missing (at least one event is required)")
    raw = data["events"]
    if not isinstance(raw, list):
        raise ConfigError(path, "[[events]]", "must be an array of tables: start each event with [[events]]")
    if not raw:
        raise ConfigError(path, "[[events]]", "at least one event is required")
    events: list[Event] = []
    numbers_by_id: dict[str, int] = {}
    numbers_by_keyword: dict[tuple[str, ...], int] = {}
    for number, item in enumerate(raw, start=1):
        where = f"[[events]] #{number}"  # 1-based, in file order
        if not isinstance(item, dict):
            raise ConfigError(path, where, "must be a table")
        event = _event(path, where, _read_table(path, where, item, keys.EVENT))
        if event.id in numbers_by_id:
            raise ConfigError(
                path, f"{where} id", f'"{event.id}" is already the id of event #{numbers_by_id[event.id]}'
            )
        try:
            keyword = _keyword_key(event.keyword)
        except ValueError:
            raise ConfigError(path, f"{where} keyword", "has no words or date to look for") from None
        if keyword in numbers_by_keyword:
            other = numbers_by_keyword[keyword]
            raise ConfigError(
                path, f"{where} keyword", f'same keyword as event #{other} ("{events[other - 1].id}")'
            )
        for known, other in numbers_by_keyword.items():
            # One keyword inside the other: every mail naming the longer one would book both events.
            relation = (
                "contains" if contains(keyword, known) else "is part of" if contains(known, keyword) else ""
            )
            if relation:
                raise ConfigError(
                    path,
                    f"{where} keyword",
                    f'{relation} the keyword of event #{other} ("{events[other - 1].id}"): '
                    "a mail naming the longer one would book both",
                )
        numbers_by_id[event.id] = number
        numbers_by_keyword[keyword] = number
        events.append(event)
    return tuple(events)
