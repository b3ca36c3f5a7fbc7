"""Every command on a database nothing has touched yet: it works, or says in one line what to do (no SQL)."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from mailbot.cli import cli
from tests.integration.test_desk import invoke

EVENT = "digitalisierung-2020"
PERSON = "person1@example.org"

# Each command (and subcommand): arguments for the seed config, the exit code expected on a fresh database.
COMMANDS: dict[str, tuple[tuple[str, ...], int]] = {
    "run": (("run", "--once"), 0),
    "status": (("status",), 0),
    "export": (("export",), 0),
    "export-person": (("export-person", PERSON), 0),
    "inspect": (("inspect", "1"), 1),  # "no message '1' in the ledger"
    "triage": (("triage",), 0),
    "add": (("add", EVENT, "--name", "Erna Oma", "--phone", "02305 123456"), 0),
    "cancel": (("cancel", EVENT, "--email", PERSON), 1),  # "no active registration"
    "list": (("list", EVENT), 0),
    "import": (("import", EVENT, "IMPORT"), 0),
    "history": (("history", EVENT), 0),
    "retry": (("retry", "--quarantined"), 0),  # "0 mail(s) decided again"
    "send-access": (("send-access", EVENT, "--dry-run"), 2),  # the seed event has no access data
    "health": (("health",), 1),  # "unhealthy: no successful poll yet"
    "purge": (("purge", "--dry-run"), 0),
    "forget": (("forget", PERSON), 0),
    "db upgrade": (("db", "upgrade"), 0),
    "user add": (("user", "add", "anna", "--role", "viewer"), 1),  # nothing on stdin: "the password is empty"
    "user list": (("user", "list"), 0),
    "user passwd": (("user", "passwd", "anna"), 1),  # "no account 'anna'"
    "user remove": (("user", "remove", "anna"), 1),  # "no account 'anna'"
    "user reset-second-factor": (("user", "reset-second-factor", "anna"), 1),  # "no account 'anna'"
}
NOT_HERE = {"demo", "web"}  # demo brings its own servers and database; web serves until stopped (tests/web)


def command_names() -> set[str]:
    """Every command of the CLI, subcommands as "group sub"."""
    names = set()
    ctx = click.Context(cli)
    for name in cli.list_commands(ctx):  # the group loads its commands lazily: cli.commands is empty
        command = cli.get_command(ctx, name)
        sub = getattr(command, "commands", None)
        names |= {f"{name} {s}" for s in sub} if sub else {name}
    return names


def test_every_command_is_covered() -> None:
    """A new command gets a fresh-database case here (or a reason why not)."""
    assert command_names() - NOT_HERE == set(COMMANDS)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_command_on_a_fresh_database(name: str, config_file: Path, tmp_path: Path) -> None:
    """The command works on a database no command has created yet, or fails with one plain line."""
    args, expected = COMMANDS[name]
    paper = tmp_path / "paper.csv"
    paper.write_text("name;email;phone;received_at\nErna Oma;;02305 123456;2020-09-21T10:00:00+02:00\n")
    args = tuple(str(paper) if a == "IMPORT" else a for a in args)
    if name == "export-person":
        args = (*args, "-o", str(tmp_path / "person.json"))
    code, out, err = invoke(config_file, *args)
    assert code == expected, (out, err)
    for text in (out, err):
        assert "Traceback" not in text
        assert "no such table" not in text
        assert "does not exist" not in text  # PostgreSQL's words for a missing table
        assert "Error:" not in text, text  # an exception's type name is no answer for staff
    if code:
        assert len(err.strip().splitlines()) == 1, err
        assert err.startswith("mailbot: "), err


def test_health_on_a_fresh_database_says_what_to_do(config_file: Path) -> None:
    """`mailbot health` before any other command: one line, unhealthy, and it does not create the schema."""
    result = CliRunner().invoke(cli, ["--config", str(config_file), "health"], obj={})
    assert (result.exit_code, result.stderr) == (
        1,
        "mailbot: unhealthy: no successful poll yet (the database is empty: `mailbot run` creates it)\n",
    )
    code, out, _ = invoke(config_file, "status")  # and the desk still starts normally afterwards
    assert code == 0, out
