"""Config sizes (config/limits.py): files named in the config are small regular files; strings are capped."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from mailbot.cli import cli
from mailbot.config import load_config
from mailbot.errors import ConfigError
from tests.test_config import VALID, _edit

# A FIFO nobody writes to: opening it for reading the usual way would wait forever. The marker ends a
# hanging test with a failure instead of holding the suite.
pytestmark = pytest.mark.timeout(60)


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test in a fresh working directory: the config is "config.toml" in messages."""
    monkeypatch.chdir(tmp_path)


def _fails(text: str) -> str:
    Path("config.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config("config.toml", env={})
    return str(caught.value)


def _status(config: str) -> tuple[int, str]:
    """`mailbot --config CONFIG status`: exit code and stderr."""
    result = CliRunner().invoke(cli, ["--config", config, "status"], obj={})
    return result.exit_code, result.stderr


def test_access_info_file_dev_zero_is_refused_with_one_line() -> None:
    """access_info_file = "/dev/zero" (it never ends): exit 2, one line naming the key, no memory spent."""
    Path("config.toml").write_text(VALID + 'access_info_file = "/dev/zero"\n', encoding="utf-8")
    started = time.monotonic()
    code, err = _status("config.toml")
    assert code == 2
    assert err.splitlines() == [
        "config.toml: [[events]] #1 access_info_file: is not a regular file (a character device)"
    ]
    assert time.monotonic() - started < 30  # a read of /dev/zero would run until memory is gone


def test_access_info_file_fifo_is_refused_without_waiting_for_a_writer() -> None:
    """access_info_file naming a FIFO: refused at once (not opened to wait for a writer that never comes)."""
    os.mkfifo("zugang.fifo")
    message = _fails(VALID + 'access_info_file = "zugang.fifo"\n')
    assert message == "config.toml: [[events]] #1 access_info_file: is not a regular file (a FIFO)"


def test_access_info_file_over_the_cap_is_refused_and_one_at_the_cap_is_read() -> None:
    """access_info_file up to 64 KiB is read; one byte more is refused with the limit named."""
    Path("zugang.txt").write_bytes(b"x" * (64 * 1024))
    Path("config.toml").write_text(VALID + 'access_info_file = "zugang.txt"\n', encoding="utf-8")
    assert len(load_config("config.toml", env={}).events[0].access_info) == 64 * 1024
    Path("zugang.txt").write_bytes(b"x" * (64 * 1024 + 1))
    assert _fails(VALID + 'access_info_file = "zugang.txt"\n') == (
        "config.toml: [[events]] #1 access_info_file: is larger than 64 KiB"
    )


def test_access_info_file_that_is_a_directory_is_named_as_one() -> None:
    """access_info_file naming a folder says so."""
    Path("zugang").mkdir()
    assert _fails(VALID + 'access_info_file = "zugang"\n') == (
        "config.toml: [[events]] #1 access_info_file: is a directory, not a file"
    )


@pytest.mark.parametrize("table", ["imap", "smtp"])
def test_password_file_must_be_a_small_regular_file(table: str) -> None:
    """password_file = "/dev/zero" or a FIFO (a misplaced Docker secret mount): one clear error."""
    os.mkfifo("secret.fifo")
    for name, kind in (("/dev/zero", "a character device"), ("secret.fifo", "a FIFO")):
        text = _edit(f"[{table}]\n", f'[{table}]\npassword_file = "{name}"\n')
        assert _fails(text) == f"config.toml: [{table}] password_file: is not a regular file ({kind})"


def test_config_file_itself_must_be_a_small_regular_file() -> None:
    """`--config /dev/zero` or a FIFO: exit 2 with one line, at once; a 2 MiB file is refused too."""
    os.mkfifo("config.fifo")
    assert _status("/dev/zero") == (2, "/dev/zero: file: is not a regular file (a character device)\n")
    assert _status("config.fifo") == (2, "config.fifo: file: is not a regular file (a FIFO)\n")
    Path("big.toml").write_text(VALID + "#" * (2 * 1024 * 1024) + "\n", encoding="utf-8")
    assert _status("big.toml") == (2, "big.toml: file: is larger than 1 MiB\n")


@pytest.mark.parametrize(
    ("old", "new", "key", "length", "limit"),
    [
        ('title = "First event"', f'title = "{"T" * 201}"', "[[events]] #1 title", 201, 200),
        ('keyword = "First 08.10."', f'keyword = "{"k" * 201}"', "[[events]] #1 keyword", 201, 200),
        ('host = "imap.example.org"', f'host = "{"h" * 254}"', "[imap] host", 254, 253),
        ('url = "sqlite:///mailbot.db"', f'url = "sqlite:///{"d" * 4096}"', "[database] url", 4106, 4096),
        (
            "[[events]]",
            f'[bot]\nadmin_addresses = ["{"a" * 400}@example.org"]\n\n[[events]]',
            "[bot] admin_addresses",
            412,
            320,
        ),
        ("[[events]]", f'[bot]\ntimezone = "{"Z" * 65}"\n\n[[events]]', "[bot] timezone", 65, 64),
        (
            "starts_at = 2020-10-08T18:00:00+02:00",
            f'starts_at = 2020-10-08T18:00:00+02:00\nlocation = "{"L" * 501}"',
            "[[events]] #1 location",
            501,
            500,
        ),
        (
            "starts_at = 2020-10-08T18:00:00+02:00",
            f'starts_at = 2020-10-08T18:00:00+02:00\naccess_info = "{"A" * 70000}"',
            "[[events]] #1 access_info",
            70000,
            65536,
        ),
    ],
    ids=["title", "keyword", "host", "url", "admin-address", "timezone", "location", "access-info"],
)
def test_config_strings_are_capped_with_the_key_named(
    old: str, new: str, key: str, length: int, limit: int
) -> None:
    """A string longer than its key allows is refused with the key, its length and the limit."""
    message = _fails(_edit(old, new))
    assert message == f"config.toml: {key}: is {length:,} characters long: at most {limit:,} allowed"


def test_a_string_without_a_limit_of_its_own_is_capped_at_1000() -> None:
    """Any other string key (here [imap] folder) is capped at 1,000 characters."""
    message = _fails(_edit("[imap]\n", f'[imap]\nfolder = "{"F" * 1001}"\n'))
    assert message == "config.toml: [imap] folder: is 1,001 characters long: at most 1,000 allowed"


def test_an_overlong_password_is_refused_without_echoing_it() -> None:
    """A 5,000-character password is refused by its length; the message holds no part of it."""
    secret = "geheim-" + "x" * 4993
    message = _fails(_edit('password = "imap-secret-in-file"', f'password = "{secret}"'))
    assert message == "config.toml: [imap] password: is 5,000 characters long: at most 4,096 allowed"
    assert "geheim" not in message


def test_strings_at_their_limit_are_accepted() -> None:
    """The caps are limits, not off by one: a 200-character title and a 253-character host load."""
    text = _edit('title = "First event"', f'title = "{"T" * 200}"')
    text = _edit('host = "imap.example.org"', f'host = "{"h" * 253}"', text)
    Path("config.toml").write_text(text, encoding="utf-8")
    config = load_config("config.toml", env={})
    assert (len(config.events[0].title), len(config.imap.host)) == (200, 253)
