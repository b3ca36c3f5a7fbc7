"""The configuration: the repo's config.toml loads, defaults and env passwords apply, mistakes name a key."""

from __future__ import annotations

import dataclasses
import ipaddress
import tomllib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from mailbot.config import (
    BotSettings,
    ClientCredentials,
    Config,
    OAuthSettings,
    WebSettings,
    load_config,
    parse_config,
    resolve_config_path,
)
from mailbot.errors import ConfigError, MailbotError

REPO_CONFIG = Path(__file__).resolve().parent.parent / "config.toml"
CEST = timezone(timedelta(hours=2))

VALID = """\
[imap]
host = "imap.example.org"
port = 993
security = "tls"
username = "desk@example.org"
password = "imap-secret-in-file"

[smtp]
host = "smtp.example.org"
port = 465
security = "tls"
username = "desk@example.org"
password = "smtp-secret-in-file"
sender = "Event Desk <desk@example.org>"

[database]
url = "sqlite:///mailbot.db"

[[events]]
id = "first"
title = "First event"
keyword = "First 08.10."
capacity = 10
starts_at = 2020-10-08T18:00:00+02:00
"""

SECOND_EVENT = """
[[events]]
id = "second"
title = "Second event"
keyword = "Second 09.10."
capacity = 5
starts_at = 2020-10-09T18:00:00+02:00
"""

SENDER_HINT = 'write e.g. "Stadt Castrop-Rauxel <digitalisierung@castrop-rauxel.de>"'


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run each test in a fresh working directory, so a written config is named "config.toml" in messages."""
    monkeypatch.chdir(tmp_path)


def _write(text: str) -> str:
    Path("config.toml").write_text(text, encoding="utf-8")
    return "config.toml"


def _edit(old: str, new: str, text: str = VALID) -> str:
    assert old in text, f"test setup: {old!r} not in the config"
    return text.replace(old, new, 1)


def test_repo_config_loads_with_the_password_from_env() -> None:
    """The documented config.toml of the repository is valid and describes the Castrop-Rauxel dialogue."""
    config = load_config(REPO_CONFIG, env={"MAILBOT_IMAP_PASSWORD": "x"})

    event = config.event("digitalisierung-2020")
    assert event.capacity == 75
    assert event.keyword == "Digitalisierung 08.10."
    assert event.starts_at == datetime(2020, 10, 8, 18, 0, tzinfo=CEST)
    assert event.starts_at.utcoffset() == timedelta(hours=2)
    assert event.ends_at == datetime(2020, 10, 8, 20, 30, tzinfo=CEST)
    assert config.imap.password == "x"
    assert config.smtp.sender_address == "digitalisierung@castrop-rauxel.de"
    assert config.smtp.sender_name == "Stadt Castrop-Rauxel"
    assert config.database.url == "sqlite:///mailbot.db"


def test_repo_config_keeps_no_password() -> None:
    """Without MAILBOT_IMAP_PASSWORD the repo's config.toml is refused: it contains no password itself."""
    with pytest.raises(ConfigError) as caught:
        load_config(REPO_CONFIG, env={})
    assert caught.value.key == "[imap] password"


def test_env_passwords_win_over_the_file() -> None:
    """MAILBOT_IMAP_PASSWORD and MAILBOT_SMTP_PASSWORD replace the passwords written in the file."""
    env = {"MAILBOT_IMAP_PASSWORD": "imap-from-env", "MAILBOT_SMTP_PASSWORD": "smtp-from-env"}

    config = load_config(_write(VALID), env=env)

    assert config.imap.password == "imap-from-env"
    assert config.smtp.password == "smtp-from-env"


def test_file_passwords_apply_when_env_is_unset_or_empty() -> None:
    """An empty environment variable counts as unset, so the file's password is used."""
    config = load_config(_write(VALID), env={"MAILBOT_IMAP_PASSWORD": ""})

    assert config.imap.password == "imap-secret-in-file"
    assert config.smtp.password == "smtp-secret-in-file"


def test_env_defaults_to_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without an explicit env mapping the process environment supplies the passwords."""
    monkeypatch.setenv("MAILBOT_IMAP_PASSWORD", "from-os-environ")

    config = load_config(_write(VALID))

    assert config.imap.password == "from-os-environ"


def test_defaults_are_applied() -> None:
    """Optional keys (and the whole [bot] table) fall back to their documented defaults."""
    text = _edit('username = "desk@example.org"\npassword = "smtp-secret-in-file"\n', "")

    config = load_config(_write(text), env={})

    assert config.imap.folder == "INBOX"
    assert config.imap.processed_folder is None
    assert config.imap.timeout == 30.0
    assert config.smtp.username is None
    assert config.smtp.password is None
    assert config.smtp.timeout == 30.0
    assert config.bot == BotSettings(
        poll_interval=60.0, timezone="Europe/Berlin", language="de", max_message_bytes=10485760
    )
    assert config.events[0].ends_at is None


def test_optional_values_are_read() -> None:
    """Optional keys are taken over, seconds become floats, and a string starts_at is parsed."""
    imap_extras = 'folder = "Anmeldungen"\nprocessed_folder = "Erledigt"\ntimeout = 12.5\n\n'
    text = _edit("[smtp]", imap_extras + "[smtp]")
    text = _edit("starts_at = 2020-10-08T18:00:00+02:00", 'starts_at = "2020-10-08T18:00:00+02:00"', text)
    text += '\n[bot]\npoll_interval = 5\ntimezone = "UTC"\nlanguage = "en"\nmax_message_bytes = 1000\n'

    config = load_config(_write(text), env={})

    assert (config.imap.folder, config.imap.processed_folder, config.imap.timeout) == (
        "Anmeldungen",
        "Erledigt",
        12.5,
    )
    assert config.bot == BotSettings(poll_interval=5.0, timezone="UTC", language="en", max_message_bytes=1000)
    assert isinstance(config.bot.poll_interval, float)
    assert config.events[0].starts_at == datetime(2020, 10, 8, 18, 0, tzinfo=CEST)


def test_repr_shows_no_password() -> None:
    """Neither the IMAP nor the SMTP password ever appears in the repr of the settings (e.g. in logs)."""
    config = load_config(_write(VALID), env={})

    assert "imap-secret-in-file" not in repr(config)
    assert "smtp-secret-in-file" not in repr(config)
    assert "secret" not in str(config.imap) + str(config.smtp)


def test_events_keep_file_order_and_are_found_by_id() -> None:
    """Several events load in file order; Config.event() finds one by id and raises KeyError otherwise."""
    config = load_config(_write(VALID + SECOND_EVENT), env={})

    assert [event.id for event in config.events] == ["first", "second"]
    assert config.event("second").capacity == 5
    with pytest.raises(KeyError, match="nope"):
        config.event("nope")


def test_parse_config_builds_from_a_dict() -> None:
    """parse_config() validates data that did not come from a file, e.g. in tests and the demo."""
    data = tomllib.loads(VALID)

    config = parse_config(data, "<demo>", env={})

    assert isinstance(config, Config)
    assert config.path == "<demo>"
    with pytest.raises(ConfigError, match=r"^<demo>: \[smtp\] port: must be between 1 and 65535$"):
        parse_config({**data, "smtp": {**data["smtp"], "port": 70000}}, "<demo>", env={})


def test_config_is_frozen() -> None:
    """Settings cannot be changed after loading."""
    config = load_config(_write(VALID), env={})

    with pytest.raises(dataclasses.FrozenInstanceError):
        config.imap.port = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            _edit('sender = "Event Desk <desk@example.org>"\n', ""),
            "config.toml: [smtp] sender: missing",
            id="missing-sender",
        ),
        pytest.param(
            _edit('[database]\nurl = "sqlite:///mailbot.db"\n', ""),
            "config.toml: [database]: missing",
            id="missing-table",
        ),
        pytest.param(
            _edit('password = "imap-secret-in-file"\n', ""),
            "config.toml: [imap] password: missing (set it here or in MAILBOT_IMAP_PASSWORD)",
            id="missing-imap-password",
        ),
        pytest.param(
            _edit('username = "desk@example.org"\npassword = "smtp', 'password = "smtp'),
            "config.toml: [smtp] username: missing (a password is set, so a login is intended)",
            id="smtp-password-without-username",
        ),
        pytest.param(
            _edit("[smtp]", 'processed_folder = "INBOX"\n\n[smtp]'),
            "config.toml: [imap] processed_folder: must differ from folder",
            id="processed-folder-is-folder",
        ),
        pytest.param(
            _edit("port = 993", 'port = "993"'),
            "config.toml: [imap] port: must be an integer",
            id="port-as-string",
        ),
        pytest.param(
            _edit("port = 993", "port = 99300"),
            "config.toml: [imap] port: must be between 1 and 65535",
            id="port-out-of-range",
        ),
        pytest.param(
            _edit("capacity = 10", 'capacity = "10"'),
            "config.toml: [[events]] #1 capacity: must be an integer",
            id="capacity-as-string",
        ),
        pytest.param(
            _edit("capacity = 10", "capacity = true"),
            "config.toml: [[events]] #1 capacity: must be an integer",
            id="bool-as-integer",
        ),
        pytest.param(
            _edit("capacity = 10", "capacity = 0"),
            "config.toml: [[events]] #1 capacity: must be at least 1",
            id="capacity-zero",
        ),
        pytest.param(
            VALID + "\n[bot]\npoll_interval = -1\n",
            "config.toml: [bot] poll_interval: must be greater than 0",
            id="negative-poll-interval",
        ),
        pytest.param(
            _edit('host = "imap.example.org"', 'hots = "imap.example.org"'),
            "config.toml: [imap] hots: unknown key",
            id="unknown-key",
        ),
        pytest.param(
            VALID + '\n[logging]\nlevel = "debug"\n',
            "config.toml: [logging]: unknown table",
            id="unknown-table",
        ),
        pytest.param(
            "debug = true\n" + VALID,
            "config.toml: debug: unknown key",
            id="unknown-top-level-key",
        ),
        pytest.param(
            VALID + '\n[bot]\ntimezone = "Europe/Berln"\n',
            'config.toml: [bot] timezone: unknown time zone "Europe/Berln" (use a name like "Europe/Berlin")',
            id="bad-timezone",
        ),
        pytest.param(
            VALID + '\n[bot]\nlanguage = "fr"\n',
            'config.toml: [bot] language: must be one of "de", "en"',
            id="bad-language",
        ),
        pytest.param(
            VALID + SECOND_EVENT.replace('keyword = "Second 09.10."', 'keyword = "  first   08.10. "'),
            'config.toml: [[events]] #2 keyword: same keyword as event #1 ("first")',
            id="two-events-one-keyword",
        ),
        pytest.param(
            VALID + SECOND_EVENT.replace('keyword = "Second 09.10."', 'keyword = "FIRST 8.10"'),
            'config.toml: [[events]] #2 keyword: same keyword as event #1 ("first")',
            id="two-events-one-keyword-other-spelling",
        ),
        pytest.param(
            VALID.replace('keyword = "First 08.10."', 'keyword = "Bürgerbudget 12.03."')
            + SECOND_EVENT.replace('keyword = "Second 09.10."', 'keyword = "Buergerbudget 12.3."'),
            'config.toml: [[events]] #2 keyword: same keyword as event #1 ("first")',
            id="two-events-one-keyword-umlaut-written-out",
        ),
        pytest.param(
            VALID.replace('keyword = "First 08.10."', 'keyword = "Strasse 08.10."')
            + SECOND_EVENT.replace('keyword = "Second 09.10."', 'keyword = "STRASSE 8.10"'),
            'config.toml: [[events]] #2 keyword: same keyword as event #1 ("first")',
            id="two-events-one-keyword-sharp-s",
        ),
        pytest.param(
            VALID + SECOND_EVENT.replace('keyword = "Second 09.10."', 'keyword = "First 08.10. Nord"'),
            'config.toml: [[events]] #2 keyword: contains the keyword of event #1 ("first"): '
            "a mail naming the longer one would book both",
            id="one-keyword-inside-another",
        ),
        pytest.param(
            _edit('keyword = "First 08.10."', 'keyword = "„“"'),
            "config.toml: [[events]] #1 keyword: has no words or date to look for",
            id="keyword-without-words",
        ),
        pytest.param(
            VALID + SECOND_EVENT.replace('id = "second"', 'id = "first"'),
            'config.toml: [[events]] #2 id: "first" is already the id of event #1',
            id="duplicate-event-id",
        ),
        pytest.param(
            _edit('id = "first"', 'id = "First Event"'),
            'config.toml: [[events]] #1 id: must be 1 to 64 of a-z, 0-9, ".", "_", "-", '
            'starting with a letter or digit, e.g. "digitalisierung-2020"',
            id="bad-event-id",
        ),
        pytest.param(
            _edit('keyword = "First 08.10."', 'keyword = "  "'),
            "config.toml: [[events]] #1 keyword: must not be empty",
            id="empty-keyword",
        ),
        pytest.param(
            _edit("starts_at = 2020-10-08T18:00:00+02:00", "starts_at = 2020-10-08T18:00:00"),
            "config.toml: [[events]] #1 starts_at: has no UTC offset; write e.g. 2020-10-08T18:00:00+02:00",
            id="naive-starts-at",
        ),
        pytest.param(
            _edit("starts_at = 2020-10-08T18:00:00+02:00", 'starts_at = "2020-10-08 18:00"'),
            "config.toml: [[events]] #1 starts_at: has no UTC offset; write e.g. 2020-10-08T18:00:00+02:00",
            id="naive-starts-at-string",
        ),
        pytest.param(
            _edit("starts_at = 2020-10-08T18:00:00+02:00", 'starts_at = "8. Oktober, 18 Uhr"'),
            "config.toml: [[events]] #1 starts_at: must be an ISO 8601 date and time with UTC offset, "
            "e.g. 2020-10-08T18:00:00+02:00",
            id="unparseable-starts-at",
        ),
        pytest.param(
            _edit("starts_at = 2020-10-08T18:00:00+02:00", "starts_at = 2020-10-08"),
            "config.toml: [[events]] #1 starts_at: must be a date and time with UTC offset, "
            "e.g. 2020-10-08T18:00:00+02:00",
            id="date-only-starts-at",
        ),
        pytest.param(
            VALID + "ends_at = 2020-10-08T17:00:00+02:00\n",
            "config.toml: [[events]] #1 ends_at: must be after starts_at",
            id="ends-before-start",
        ),
        pytest.param(
            _edit('security = "tls"', 'security = "ssl"'),
            'config.toml: [imap] security: must be one of "tls", "starttls", "none"',
            id="bad-security",
        ),
        pytest.param(
            _edit('sender = "Event Desk <desk@example.org>"', 'sender = "Event Desk <desk@>"'),
            f"config.toml: [smtp] sender: is not a valid address; {SENDER_HINT}",
            id="bad-sender",
        ),
        pytest.param(
            _edit('sender = "Event Desk <desk@example.org>"', 'sender = "desk"'),
            f"config.toml: [smtp] sender: is not a valid address; {SENDER_HINT}",
            id="sender-without-domain",
        ),
        pytest.param(
            _edit('sender = "Event Desk <desk@example.org>"', 'sender = "a@example.org, b@example.org"'),
            "config.toml: [smtp] sender: must be exactly one address, e.g. "
            '"Stadt Castrop-Rauxel <digitalisierung@castrop-rauxel.de>"',
            id="two-senders",
        ),
        pytest.param(
            _edit('url = "sqlite:///mailbot.db"', 'url = "mailbot.db"'),
            'config.toml: [database] url: must be a database URL like "sqlite:///mailbot.db"',
            id="bad-database-url",
        ),
        pytest.param(
            VALID.split("[[events]]", maxsplit=1)[0],
            "config.toml: [[events]]: missing (at least one event is required)",
            id="no-events",
        ),
        pytest.param(
            "events = []\n" + VALID.split("[[events]]", maxsplit=1)[0],
            "config.toml: [[events]]: at least one event is required",
            id="empty-events",
        ),
        pytest.param(
            _edit("port = 993", "port = "),
            "config.toml: file: Invalid value (at line 3, column 8)",
            id="toml-syntax-error",
        ),
    ],
)
def test_bad_config_names_the_key(text: str, message: str) -> None:
    """Each mistake is reported as "file: key: problem", one line, naming the offending key."""
    with pytest.raises(ConfigError) as caught:
        load_config(_write(text), env={})

    assert str(caught.value) == message
    assert "\n" not in str(caught.value)
    assert isinstance(caught.value, MailbotError)
    assert caught.value.path == "config.toml"


def test_missing_file_is_reported_with_the_path_as_given() -> None:
    """A file that does not exist is named as the user wrote it, under the key "file"."""
    with pytest.raises(ConfigError) as caught:
        load_config("etc/mailbot.toml", env={})

    assert str(caught.value) == "etc/mailbot.toml: file: not found"
    assert (caught.value.path, caught.value.key, caught.value.problem) == (
        "etc/mailbot.toml",
        "file",
        "not found",
    )


def test_non_utf8_file_is_reported() -> None:
    """A file saved in Latin-1 is refused with a hint instead of a UnicodeDecodeError."""
    Path("config.toml").write_bytes(
        VALID.replace("First event", "Erste Veranstaltung für Bürger").encode("latin-1")
    )

    with pytest.raises(ConfigError, match=r"^config\.toml: file: is not UTF-8 text"):
        load_config("config.toml", env={})


def test_resolve_config_path_prefers_cli_then_env_then_default() -> None:
    """--config wins over MAILBOT_CONFIG, which wins over ./config.toml."""
    env = {"MAILBOT_CONFIG": "/etc/mailbot/config.toml"}

    assert resolve_config_path("mine.toml", env) == "mine.toml"
    assert resolve_config_path(None, env) == "/etc/mailbot/config.toml"
    assert resolve_config_path(None, {}) == "config.toml"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("PT2H", timedelta(hours=2)),
        ("P1D", timedelta(days=1)),
        ("P1DT12H", timedelta(days=1, hours=12)),
        ("PT30M", timedelta(minutes=30)),
        ("P1W", timedelta(weeks=1)),
    ],
)
def test_reminder_before_reads_iso_durations(value: str, expected: timedelta) -> None:
    """reminder_before takes ISO 8601 durations."""
    config = load_config(_write(VALID + f'reminder_before = "{value}"\n'), env={})
    assert config.events[0].reminder_before == expected


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            'reminder_before = "2 hours"\n',
            "config.toml: [[events]] #1 reminder_before: must be an ISO 8601 "
            'duration, e.g. "PT2H" (2 hours) or "P1D" (1 day)',
        ),
        (
            'reminder_before = "PT"\n',
            "config.toml: [[events]] #1 reminder_before: must be an ISO 8601 "
            'duration, e.g. "PT2H" (2 hours) or "P1D" (1 day)',
        ),
        (
            "send_access_at = 2020-10-07T18:00:00+02:00\n",
            "config.toml: [[events]] #1 send_access_at: needs access_info or access_info_file",
        ),
        (
            "opens_at = 2020-10-01T00:00:00+02:00\ncloses_at = 2020-09-01T00:00:00+02:00\n",
            "config.toml: [[events]] #1 closes_at: must be after opens_at",
        ),
        (
            'access_info = "x"\naccess_info_file = "zugang.txt"\n',
            "config.toml: [[events]] #1 access_info_file: give access_info or access_info_file, not both",
        ),
        (
            'access_info_file = "fehlt.txt"\n',
            "config.toml: [[events]] #1 access_info_file: cannot be read (FileNotFoundError)",
        ),
        ('templates_dir = "fehlt"\n', "config.toml: [[events]] #1 templates_dir: is not a directory"),
        ('admin_addresses = "it@example.org"\n', None),
    ],
    ids=[
        "words",
        "empty",
        "access-without-info",
        "window",
        "both-access",
        "missing-file",
        "templates",
        "admins",
    ],
)
def test_lifecycle_keys_are_checked(extra: str, message: str | None) -> None:
    """The event's lifecycle keys name the key and the problem when wrong."""
    if message is None:  # admin_addresses belongs to [bot]
        text = _edit("[database]", '[bot]\nadmin_addresses = "it@example.org"\n\n[database]')
        message = 'config.toml: [bot] admin_addresses: must be a list of addresses, e.g. ["it@example.org"]'
    else:
        text = VALID + extra
    with pytest.raises(ConfigError) as caught:
        load_config(_write(text), env={})
    assert str(caught.value) == message


def test_access_info_file_is_read_relative_to_the_config(tmp_path: Path) -> None:
    """access_info_file is read from next to the config file, wherever mailbot runs."""
    folder = tmp_path / "etc"
    folder.mkdir()
    (folder / "zugang.txt").write_text("Zoom: https://zoom.example.org/j/1\n", encoding="utf-8")
    (folder / "config.toml").write_text(VALID + 'access_info_file = "zugang.txt"\n', encoding="utf-8")
    config = load_config(folder / "config.toml", env={})
    assert config.events[0].access_info == "Zoom: https://zoom.example.org/j/1"


@pytest.mark.parametrize("table", ["imap", "smtp"])
def test_plaintext_is_refused_for_remote_hosts(table: str) -> None:
    """security = "none" on a non-loopback host is refused unless allow_insecure = true."""
    text = VALID.replace('security = "tls"', 'security = "none"').replace(
        'security = "starttls"', 'security = "none"'
    )
    with pytest.raises(ConfigError) as caught:
        load_config(_write(text), env={})
    assert str(caught.value).startswith('config.toml: [imap] security: "none" sends passwords unencrypted')
    allowed = text.replace(f"[{table}]\n", f"[{table}]\nallow_insecure = true\n")
    other = "smtp" if table == "imap" else "imap"
    allowed = allowed.replace(f"[{other}]\n", f"[{other}]\nallow_insecure = true\n")
    assert load_config(_write(allowed), env={}).imap.security == "none"


def test_loopback_may_use_plaintext() -> None:
    """Loopback hosts (127.0.0.1, ::1, localhost) may use security = "none" without a flag."""
    text = VALID.replace('"imap.example.org"', '"::1"').replace('security = "tls"', 'security = "none"', 1)
    assert load_config(_write(text), env={}).imap.host == "::1"


def test_password_file_is_read_and_the_environment_still_wins(tmp_path: Path) -> None:
    """password_file (a Docker/Kubernetes secret) gives the password; MAILBOT_IMAP_PASSWORD beats it."""
    (tmp_path / "imap.secret").write_text("from-file\n", encoding="utf-8")
    text = VALID.replace("[imap]\n", '[imap]\npassword_file = "imap.secret"\n')
    text = "\n".join(line for line in text.splitlines() if not line.startswith("password = ")) + "\n"
    (tmp_path / "config.toml").write_text(text, encoding="utf-8")
    assert load_config(tmp_path / "config.toml", env={}).imap.password == "from-file"
    env = {"MAILBOT_IMAP_PASSWORD": "from-env"}
    assert load_config(tmp_path / "config.toml", env=env).imap.password == "from-env"
    assert "from-file" not in repr(load_config(tmp_path / "config.toml", env={}))


def test_imap_idle_defaults_to_true_can_be_switched_off_and_must_be_a_flag() -> None:
    """[imap] idle is true unless set, `idle = false` switches IMAP IDLE off, a non-bool names the key."""
    assert load_config(_write(VALID), env={}).imap.idle is True
    off = _edit('password = "imap-secret-in-file"\n', 'password = "imap-secret-in-file"\nidle = false\n')
    assert load_config(_write(off), env={}).imap.idle is False
    wrong = _edit('password = "imap-secret-in-file"\n', 'password = "imap-secret-in-file"\nidle = "yes"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(_write(wrong), env={})
    assert str(caught.value) == "config.toml: [imap] idle: must be true or false"


@pytest.mark.parametrize(
    ("value", "problem"),
    [("0", "must be at least 1"), ("17", "must be at most 16"), ('"2"', "must be an integer")],
)
def test_smtp_connections_is_a_small_positive_count(value: str, problem: str) -> None:
    """[smtp] connections defaults to 3, takes 1..16, and anything else names the key."""
    assert load_config(_write(VALID), env={}).smtp.connections == 3
    four = _edit('password = "smtp-secret-in-file"\n', 'password = "smtp-secret-in-file"\nconnections = 4\n')
    assert load_config(_write(four), env={}).smtp.connections == 4
    wrong = _edit(
        'password = "smtp-secret-in-file"\n', f'password = "smtp-secret-in-file"\nconnections = {value}\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_config(_write(wrong), env={})
    assert str(caught.value).startswith(f"config.toml: [smtp] connections: {problem}")


# --- [imap]/[smtp] auth = "xoauth2" (OAuth 2.0 access tokens instead of passwords) -------------------------


def _xoauth2(table: str, keys: str, text: str = VALID) -> str:
    """The config with `table`'s password replaced by auth = "xoauth2" and the given keys."""
    return _edit(f'password = "{table}-secret-in-file"\n', f'auth = "xoauth2"\n{keys}', text)


def test_password_is_the_default_auth() -> None:
    """Without `auth` both logins use the password, and no token source is configured."""
    config = load_config(_write(VALID), env={})

    assert (config.imap.auth, config.imap.oauth) == ("password", None)
    assert (config.smtp.auth, config.smtp.oauth) == ("password", None)


def test_xoauth2_with_a_token_command_needs_no_password() -> None:
    """auth = "xoauth2" with token_command: the string is split like a shell would, no password is needed."""
    text = _xoauth2("imap", "token_command = \"get-token --mailbox 'desk box'\"\n")
    text = _xoauth2("smtp", 'token_command = ["/usr/bin/get-token", "--smtp"]\n', text)

    config = load_config(_write(text), env={"MAILBOT_IMAP_PASSWORD": "ignored"})

    assert config.imap.auth == "xoauth2"
    assert config.imap.oauth == OAuthSettings(token_command=("get-token", "--mailbox", "desk box"))
    assert config.imap.password == ""
    assert config.smtp.oauth == OAuthSettings(token_command=("/usr/bin/get-token", "--smtp"))
    assert (config.smtp.username, config.smtp.password) == ("desk@example.org", None)


def test_a_relative_token_script_is_found_next_to_the_config(tmp_path: Path) -> None:
    """A token_command program written with a relative path is taken relative to the config file."""
    folder = tmp_path / "etc"
    folder.mkdir()
    (folder / "config.toml").write_text(
        _xoauth2("imap", 'token_command = "./token.sh x"\n'), encoding="utf-8"
    )

    command = load_config(folder / "config.toml", env={}).imap.oauth

    assert command == OAuthSettings(token_command=(str(folder / "token.sh"), "x"))


def test_xoauth2_with_client_credentials_has_microsoft_defaults() -> None:
    """tenant_id, client_id, client_secret: authority and scopes default to Exchange Online's."""
    keys = 'tenant_id = "castrop-rauxel.de"\nclient_id = "app-id"\nclient_secret = "app-secret-in-file"\n'

    config = load_config(_write(_xoauth2("smtp", keys)), env={})

    assert config.smtp.auth == "xoauth2"
    assert config.smtp.oauth is not None
    assert config.smtp.oauth.client_credentials == ClientCredentials(
        tenant_id="castrop-rauxel.de",
        client_id="app-id",
        client_secret="app-secret-in-file",
        authority="https://login.microsoftonline.com/castrop-rauxel.de",
        scopes=("https://outlook.office365.com/.default",),
    )
    assert "app-secret-in-file" not in repr(config)


def test_client_secret_comes_from_env_then_file_then_config(tmp_path: Path) -> None:
    """MAILBOT_IMAP_CLIENT_SECRET beats client_secret_file (which beats client_secret); authority, scopes."""
    (tmp_path / "client.secret").write_text("from-file\n", encoding="utf-8")
    keys = (
        'tenant_id = "t"\nclient_id = "c"\nclient_secret_file = "client.secret"\n'
        'authority = "https://login.microsoftonline.us/t/"\nscopes = ["https://outlook.office365.us/.default"]\n'
    )
    (tmp_path / "config.toml").write_text(_xoauth2("imap", keys), encoding="utf-8")

    from_file = load_config(tmp_path / "config.toml", env={}).imap.oauth
    from_env = load_config(
        tmp_path / "config.toml", env={"MAILBOT_IMAP_CLIENT_SECRET": "from-env"}
    ).imap.oauth

    assert from_file is not None
    assert from_file.client_credentials is not None
    assert from_file.client_credentials.client_secret == "from-file"
    assert from_file.client_credentials.authority == "https://login.microsoftonline.us/t"
    assert from_file.client_credentials.scopes == ("https://outlook.office365.us/.default",)
    assert from_env is not None
    assert from_env.client_credentials is not None
    assert from_env.client_credentials.client_secret == "from-env"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            _edit('password = "imap-secret-in-file"\n', 'password = "x"\nauth = "oauth"\n'),
            'config.toml: [imap] auth: must be one of "password", "xoauth2"',
            id="unknown-auth",
        ),
        pytest.param(
            _xoauth2("imap", ""),
            'config.toml: [imap] token_command: missing: auth = "xoauth2" needs token_command, '
            "or tenant_id, client_id and client_secret",
            id="no-token-source",
        ),
        pytest.param(
            _edit('password = "imap-secret-in-file"\n', 'password = "x"\ntoken_command = "get-token"\n'),
            'config.toml: [imap] token_command: only used with auth = "xoauth2"',
            id="command-without-xoauth2",
        ),
        pytest.param(
            _xoauth2("smtp", 'token_command = "t"\npassword = "x"\n'),
            'config.toml: [smtp] password: not used with auth = "xoauth2": remove it',
            id="password-with-xoauth2",
        ),
        pytest.param(
            _xoauth2("imap", 'token_command = "t"\ntenant_id = "x"\n'),
            "config.toml: [imap] tenant_id: give token_command or client credentials "
            "(tenant_id, client_id, client_secret), not both",
            id="both-sources",
        ),
        pytest.param(
            _xoauth2("imap", 'tenant_id = "t"\nclient_secret = "s"\n'),
            'config.toml: [imap] client_id: missing (auth = "xoauth2" with client credentials)',
            id="no-client-id",
        ),
        pytest.param(
            _xoauth2("imap", 'tenant_id = "t"\nclient_id = "c"\n'),
            "config.toml: [imap] client_secret: missing (set it here, in MAILBOT_IMAP_CLIENT_SECRET, "
            "or client_secret_file)",
            id="no-client-secret",
        ),
        pytest.param(
            _xoauth2("imap", 'tenant_id = "t"\nclient_id = "c"\nclient_secret_file = "gone"\n'),
            "config.toml: [imap] client_secret_file: cannot be read (FileNotFoundError)",
            id="missing-secret-file",
        ),
        pytest.param(
            _xoauth2("imap", 'token_command = "get-token | head -1"\n'),
            "config.toml: [imap] token_command: runs without a shell: put pipes and redirections into a "
            "script and name that",
            id="shell-pipe",
        ),
        pytest.param(
            _xoauth2("imap", "token_command = []\n"),
            "config.toml: [imap] token_command: must not be empty",
            id="empty-command",
        ),
        pytest.param(
            _xoauth2("imap", "token_command = 42\n"),
            'config.toml: [imap] token_command: must be a command, e.g. "/usr/local/bin/get-token desk" '
            'or ["get-token", "desk"]',
            id="command-not-text",
        ),
        pytest.param(
            _xoauth2(
                "imap", 'tenant_id = "t"\nclient_id = "c"\nclient_secret = "s"\nauthority = "http://x"\n'
            ),
            'config.toml: [imap] authority: must be an https:// URL, e.g. "https://login.microsoftonline.com/'
            '<tenant_id>"',
            id="plain-http-authority",
        ),
        pytest.param(
            _xoauth2("imap", 'tenant_id = "t"\nclient_id = "c"\nclient_secret = "s"\nscopes = "x"\n'),
            'config.toml: [imap] scopes: must be a list of scopes, e.g. ["https://outlook.office365.com/.default"]',
            id="scopes-not-a-list",
        ),
        pytest.param(
            _xoauth2("smtp", 'token_command = "t"\n').replace('username = "desk@example.org"\nauth', "auth"),
            'config.toml: [smtp] username: missing (auth = "xoauth2" logs in as this mailbox)',
            id="smtp-xoauth2-without-username",
        ),
    ],
)
def test_bad_xoauth2_settings_name_the_key(text: str, message: str) -> None:
    """Each wrong combination of the auth keys is one line naming the key, never showing a secret."""
    with pytest.raises(ConfigError) as caught:
        load_config(_write(text), env={})

    assert str(caught.value) == message
    assert "secret-in-file" not in str(caught.value)


def test_web_defaults_apply_without_the_table() -> None:
    """Without [web] the console uses the documented defaults (loopback:8080, TOTP for organiser/admin)."""
    web = load_config(_write(VALID), env={}).web

    assert web == WebSettings()
    assert (web.host, web.port, web.public_url) == ("127.0.0.1", 8080, None)
    assert web.require_second_factor == ("organiser", "admin")
    assert (web.trusted_user_header, web.trusted_proxies) == (None, ())
    assert (web.session_idle_minutes, web.session_absolute_hours) == (30, 12)
    assert (web.login_attempts_per_account, web.login_attempts_per_client) == (5, 20)
    assert web.login_attempts_window_minutes == 15


def test_web_values_are_read() -> None:
    """Every [web] key is taken over; proxies become networks (an address is a network of one)."""
    text = VALID + (
        '\n[web]\nhost = "192.0.2.10"\nport = 8443\npublic_url = "https://desk.example.org/"\n'
        'require_second_factor = ["admin"]\ntrusted_user_header = "X-Forwarded-User"\n'
        'trusted_proxies = ["10.0.0.7", "fd00::/8"]\nsession_idle_minutes = 10\nsession_absolute_hours = 8\n'
        "login_attempts_per_account = 3\nlogin_attempts_per_client = 50\nlogin_attempts_window_minutes = 5\n"
    )

    web = load_config(_write(text), env={}).web

    assert (web.host, web.port, web.public_url) == ("192.0.2.10", 8443, "https://desk.example.org")
    assert web.require_second_factor == ("admin",)
    assert web.trusted_user_header == "X-Forwarded-User"
    assert web.trusted_proxies == (ipaddress.ip_network("10.0.0.7/32"), ipaddress.ip_network("fd00::/8"))
    assert ipaddress.ip_address("10.0.0.7") in web.trusted_proxies[0]
    assert (web.session_idle_minutes, web.session_absolute_hours) == (10, 8)
    assert (web.login_attempts_per_account, web.login_attempts_per_client) == (3, 50)
    assert web.login_attempts_window_minutes == 5


def test_web_second_factor_can_be_turned_off() -> None:
    """require_second_factor = [] asks no role for a second factor."""
    text = VALID + "\n[web]\nrequire_second_factor = []\n"

    assert load_config(_write(text), env={}).web.require_second_factor == ()


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        pytest.param("prot = 80", "[web] prot: unknown key", id="unknown-key"),
        pytest.param("port = 0", "[web] port: must be between 1 and 65535", id="port"),
        pytest.param('port = "8080"', "[web] port: must be an integer", id="port-string"),
        pytest.param('host = "http://desk"', "[web] host: must be a host name or IP address", id="host"),
        pytest.param(
            'require_second_factor = ["boss"]', '[web] require_second_factor: "boss" is no role', id="role"
        ),
        pytest.param(
            'require_second_factor = "admin"',
            "[web] require_second_factor: must be a list of roles",
            id="roles",
        ),
        pytest.param(
            'trusted_user_header = "X_Remote_User"\ntrusted_proxies = ["127.0.0.1"]',
            "[web] trusted_user_header: must be a header name of letters, digits and dashes",
            id="header-underscore",
        ),
        pytest.param(
            'trusted_user_header = "X-User: admin"\ntrusted_proxies = ["127.0.0.1"]',
            "[web] trusted_user_header: must be a header name",
            id="header-injection",
        ),
        pytest.param(
            'trusted_user_header = "X-Forwarded-User"',
            "[web] trusted_proxies: missing: trusted_user_header is believed only from these addresses",
            id="header-without-proxies",
        ),
        pytest.param(
            'trusted_proxies = ["proxy.local"]',
            '[web] trusted_proxies: "proxy.local" is not an IP address or network',
            id="proxy-name",
        ),
        pytest.param(
            'trusted_proxies = ["10.0.0.1/8"]',
            '[web] trusted_proxies: "10.0.0.1/8" has host bits set: write the network as "10.0.0.0/8"',
            id="proxy-host-bits",
        ),
        pytest.param("session_idle_minutes = 0", "[web] session_idle_minutes: must be at least 1", id="idle"),
        pytest.param(
            "session_absolute_hours = 1\nsession_idle_minutes = 90",
            "[web] session_idle_minutes: must not be longer than session_absolute_hours",
            id="idle-beyond-absolute",
        ),
        pytest.param(
            "login_attempts_per_client = true",
            "[web] login_attempts_per_client: must be an integer",
            id="throttle-flag",
        ),
        pytest.param(
            'public_url = "desk.example.org"',
            "[web] public_url: must be an http:// or https:// URL",
            id="url",
        ),
    ],
)
def test_bad_web_settings_name_the_key(lines: str, message: str) -> None:
    """Each mistake in [web] is one line naming the key, like every other table."""
    with pytest.raises(ConfigError) as caught:
        load_config(_write(VALID + "\n[web]\n" + lines + "\n"), env={})

    assert str(caught.value).startswith("config.toml: " + message)
    assert "\n" not in str(caught.value)
