"""The demo is an extra: without its servers `mailbot demo` says how to install them in one line, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from mailbot.cli import cli
from mailbot.demo import servers


def test_the_test_environment_has_the_demo_extra() -> None:
    """With the [demo] extra installed (the test extra pulls it in), nothing is missing."""
    assert servers.missing_extra() is None


def test_missing_smtp_server_is_named_with_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without aiosmtpd, missing_extra() names it and the command that installs the extra."""
    monkeypatch.setattr(servers, "Controller", None)
    assert (
        servers.missing_extra()
        == "the demo's servers (aiosmtpd) are not installed: pip install 'mailbot[demo]'"
    )


def test_demo_without_the_extra_prints_one_line_and_exits_2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`mailbot demo` without the extra prints one line naming `pip install 'mailbot[demo]'` and exits 2."""
    monkeypatch.setattr(servers, "Controller", None)
    result = CliRunner().invoke(cli, ["demo", "--dir", str(tmp_path / "demo")])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1
    assert "pip install 'mailbot[demo]'" in result.output
    assert not (tmp_path / "demo").exists()  # nothing was started or written
