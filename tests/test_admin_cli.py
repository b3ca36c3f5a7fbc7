"""Admin commands on an empty or fresh database, the CSV cell escaping, and log hygiene."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from mailbot.adapters.exports.csv_export import safe_cell
from mailbot.cli import cli
from mailbot.redact import mask_address

CONFIG = """
[imap]
host = "127.0.0.1"
port = 1
security = "none"
username = "u"
password = "s3cret-imap"

[smtp]
host = "127.0.0.1"
port = 1
security = "none"
sender = "Stadt <desk@example.org>"

[database]
url = "sqlite:///{db}"

[[events]]
id = "digi"
title = "Digitalisierung"
keyword = "Digitalisierung 08.10."
capacity = 75
starts_at = 2020-10-08T18:00:00+02:00
"""


def write_config(tmp_path: Path) -> Path:
    """A valid config whose servers don't exist, with a SQLite file in tmp_path."""
    path = tmp_path / "config.toml"
    path.write_text(CONFIG.format(db=tmp_path / "m.db"))
    return path


def test_status_on_a_fresh_database_shows_every_event(tmp_path: Path) -> None:
    """`status` migrates a new database and shows capacity 75, nothing booked, never polled."""
    result = CliRunner().invoke(cli, ["--config", str(write_config(tmp_path)), "status"], obj={})
    assert result.exit_code == 0, result.stderr
    assert "digi" in result.stdout
    assert "75" in result.stdout
    assert "last successful poll: never" in result.stdout


def test_db_upgrade_is_idempotent(tmp_path: Path) -> None:
    """`db upgrade` succeeds on a new and on an already migrated database."""
    path = write_config(tmp_path)
    for _ in range(2):
        result = CliRunner().invoke(cli, ["--config", str(path), "db", "upgrade"], obj={})
        assert result.exit_code == 0, result.stderr
        assert "up to date" in result.stdout


def test_config_from_environment_variable(tmp_path: Path) -> None:
    """Without --config, MAILBOT_CONFIG names the file."""
    path = write_config(tmp_path)
    result = CliRunner().invoke(cli, ["status"], obj={}, env={"MAILBOT_CONFIG": str(path)})
    assert result.exit_code == 0, result.stderr


def test_export_unknown_event_is_a_usage_error(tmp_path: Path) -> None:
    """`export --event nope` exits 2 and names the configured events."""
    path = write_config(tmp_path)
    result = CliRunner().invoke(cli, ["--config", str(path), "export", "--event", "nope"], obj={})
    assert result.exit_code == 2
    assert "unknown event 'nope'" in result.stderr
    assert "digi" in result.stderr


def test_export_file_is_private(tmp_path: Path) -> None:
    """The CSV file is created with mode 0600 (it holds personal data)."""
    path = write_config(tmp_path)
    out = tmp_path / "x.csv"
    result = CliRunner().invoke(cli, ["--config", str(path), "export", "-o", str(out)], obj={})
    assert result.exit_code == 0, result.stderr
    assert out.stat().st_mode & 0o777 == 0o600
    assert out.read_bytes().startswith(
        b"\xef\xbb\xbfevent_id;arrival_no;status;name;email;phone;received_at;replied_at"
    )


def test_unreachable_server_error_does_not_show_the_password(tmp_path: Path) -> None:
    """The one-line error for an unreachable server never contains a password."""
    path = write_config(tmp_path)
    result = CliRunner().invoke(cli, ["--config", str(path), "run", "--once"], obj={})
    assert result.exit_code == 1
    assert "s3cret-imap" not in result.stderr + result.stdout


def test_formula_cells_are_escaped() -> None:
    """Cells starting with = + - @ (or tab/CR) get a leading apostrophe; others are unchanged."""
    for value in ("=SUM(A1)", "+1", "-2", "@cmd", "\tx"):
        assert safe_cell(value) == "'" + value
    assert safe_cell("Anna Müller") == "Anna Müller"


def test_addresses_are_masked_for_logs() -> None:
    """Logs show only the first letter of the local part and the domain."""
    assert mask_address("anna.mueller@example.org") == "a***@example.org"
    assert mask_address(None) == "-"
