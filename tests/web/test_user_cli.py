"""`mailbot user ...` and `mailbot web` from the command line, on a real database."""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx2
import pytest
from click.testing import CliRunner

from mailbot.cli import cli
from tests.conftest import SENDER, toml_text
from tests.web.conftest import PASSWORD


@pytest.fixture
def config_path(tmp_path: Path, db_url: str) -> Path:
    """A config.toml for the test's database (IMAP and SMTP are never contacted by these commands)."""
    data = {
        "imap": {"host": "127.0.0.1", "port": 1, "security": "none", "username": "u", "password": "p"},
        "smtp": {"host": "127.0.0.1", "port": 1, "security": "none", "sender": SENDER},
        "database": {"url": db_url},
        "events": [
            {
                "id": "e1",
                "title": "E",
                "keyword": "E1",
                "capacity": 2,
                "starts_at": "2030-01-01T10:00:00+01:00",
            }
        ],
    }
    path = tmp_path / "config.toml"
    path.write_text(toml_text(data), encoding="utf-8")
    return path


def run(config: Path, *args: str, stdin: str = "") -> tuple[int, str]:
    """Run `mailbot --config CONFIG ARGS` in-process; exit code and all output."""
    result = CliRunner().invoke(cli, ["--config", str(config), *args], input=stdin, obj={})
    return result.exit_code, result.output


def test_user_add_list_passwd_remove(config_path: Path) -> None:
    """Add reads the password from stdin; list shows the account; passwd changes it; remove deletes it."""
    code, out = run(config_path, "user", "add", "anna", "--role", "admin", stdin=PASSWORD + "\n")
    assert code == 0, out
    assert "anna added (role admin)" in out
    code, out = run(config_path, "user", "list")
    assert code == 0, out
    assert out.splitlines()[1].split() == ["anna", "admin", "no", "active", "0"]
    code, out = run(config_path, "user", "passwd", "anna", stdin="a new long passphrase\n")
    assert code == 0, out
    code, out = run(config_path, "user", "remove", "anna")
    assert code == 0, out
    assert run(config_path, "user", "list")[1].splitlines()[1:] == []


def test_user_add_refuses_weak_passwords_with_one_line(config_path: Path) -> None:
    """An empty or short password is refused with one line and no account is made."""
    for typed in ("\n", "short\n"):
        code, out = run(config_path, "user", "add", "anna", "--role", "viewer", stdin=typed)
        assert code == 1
        assert len(out.strip().splitlines()) == 1
        assert out.startswith("mailbot: user add: the password is")
    assert run(config_path, "user", "list")[1].splitlines()[1:] == []


def test_user_commands_name_unknown_accounts_and_roles(config_path: Path) -> None:
    """A missing account or an unknown role is one line and a non-zero exit."""
    assert run(config_path, "user", "remove", "nobody") == (1, "mailbot: user remove: no account 'nobody'\n")
    code, out = run(config_path, "user", "add", "x", "--role", "boss", stdin=PASSWORD + "\n")
    assert code == 2
    assert "boss" in out


def test_mailbot_web_serves_the_console(config_path: Path, tmp_path: Path) -> None:
    """`mailbot web --port P` answers /healthz and the login page on loopback until SIGTERM."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = (tmp_path / "web.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "mailbot", "--config", str(config_path), "web", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx2.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except httpx2.TransportError:
                assert process.poll() is None, (tmp_path / "web.log").read_text()
                assert time.monotonic() < deadline, "mailbot web did not answer within 60 s"
                time.sleep(0.2)
        assert health.status_code == 200
        assert health.text.startswith("unhealthy: no successful poll yet")
        login = httpx2.get(f"http://127.0.0.1:{port}/login", timeout=5)
        assert 'name="username"' in login.text
        assert login.headers["x-frame-options"] == "DENY"
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0
        log.close()
    assert f"http://127.0.0.1:{port}/" in (tmp_path / "web.log").read_text()


def _read_until(fd: int, marker: str, timeout: float = 60) -> str:
    """What the terminal shows until `marker` appears."""
    seen = b""
    deadline = time.monotonic() + timeout
    while marker.encode() not in seen:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        assert ready, f"no {marker!r} on the terminal; it showed {seen!r}"
        try:
            seen += os.read(fd, 1024)
        except OSError:  # the program ended and closed the terminal
            break
    return seen.decode(errors="replace")


def test_user_add_asks_twice_on_a_terminal(config_path: Path) -> None:
    """On a terminal the password is asked twice, hidden; two different entries are asked again."""
    controller, terminal = os.openpty()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mailbot",
            "--config",
            str(config_path),
            "user",
            "add",
            "anna",
            "--role",
            "viewer",
        ],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
    )
    os.close(terminal)
    try:
        first, again = "Password: ", "Repeat for confirmation: "
        answers = ((first, PASSWORD), (again, "something else"), (first, PASSWORD), (again, PASSWORD))
        for prompt, typed in answers:
            _read_until(controller, prompt)
            os.write(controller, typed.encode() + b"\n")
        shown = _read_until(controller, "added")
        assert process.wait(timeout=60) == 0
    finally:
        os.close(controller)
        if process.poll() is None:
            process.kill()
    assert PASSWORD not in shown  # hidden input: nothing echoed
    assert run(config_path, "user", "list")[1].splitlines()[1].split()[:2] == ["anna", "viewer"]
