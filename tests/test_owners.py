"""One owner per concern (issue 14 rule 3): one alert sender, one address mask, one home for state keys."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import mailbot
from mailbot.service import state_keys

PACKAGE = Path(mailbot.__file__).parent
SOURCES = sorted(PACKAGE.rglob("*.py"))
STATE_CALLS = frozenset({"get_state", "set_state", "clear_state"})


def relative(path: Path) -> str:
    """A module file as a path under the repository (``mailbot/service/alerts.py``)."""
    return path.relative_to(PACKAGE.parent).as_posix()


def calls_to(source: str, name: str) -> int:
    """How many calls of a function or method of this name the source makes."""
    found = 0
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            found += called == name
    return found


def address_masks(source: str) -> list[str]:
    """Functions that mask a mail address: named mask / mask_address..., or building the ``***@`` form."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            builds = any(
                isinstance(inner, ast.Constant) and isinstance(inner.value, str) and "***@" in inner.value
                for inner in ast.walk(node)
            )
            name = node.name.lstrip("_")
            if name == "mask" or name.startswith("mask_address") or builds:
                found.append(node.name)
    return found


def literal_state_keys(source: str) -> list[str]:
    """State keys written as string literals in get_state/set_state/clear_state calls."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in STATE_CALLS
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            found.append(str(node.args[0].value))
    return found


def test_the_walk_sees_the_package() -> None:
    """The checks below read every module of mailbot, the service's included (they are not vacuous)."""
    names = {relative(path) for path in SOURCES}
    assert {"mailbot/service/alerts.py", "mailbot/redact.py", "mailbot/service/outbox.py"} <= names


def test_one_alert_sender() -> None:
    """Only service/alerts.py builds a notice to the admins (the watchdog and the pause go through it)."""
    builders = {relative(p) for p in SOURCES if calls_to(p.read_text(encoding="utf-8"), "build_alert")}
    assert builders == {"mailbot/service/alerts.py"}


def test_one_address_mask() -> None:
    """Only redact.py masks mail addresses (one address, or all in a text); every other module calls it."""
    masks = {relative(p): address_masks(p.read_text(encoding="utf-8")) for p in SOURCES}
    assert {path: names for path, names in masks.items() if names} == {
        "mailbot/redact.py": ["mask_address", "mask_addresses"]
    }


def test_state_keys_are_named_in_one_module() -> None:
    """No module names a bot_state key as a string literal; state_keys.py holds each key once."""
    literals = {relative(p): literal_state_keys(p.read_text(encoding="utf-8")) for p in SOURCES}
    assert {path: keys for path, keys in literals.items() if keys} == {}
    keys = [value for name, value in vars(state_keys).items() if name.isupper()]
    assert len(keys) == len(set(keys)) > 0


@pytest.mark.parametrize(
    ("source", "alerts", "masks", "literals"),
    [
        pytest.param("replies.build_alert(to=a)", 1, [], [], id="alert-call"),
        pytest.param("def mask(a):\n    return a", 0, ["mask"], [], id="mask-by-name"),
        pytest.param("def mask_client(ip):\n    return ip", 0, [], [], id="not-a-mail-address"),
        pytest.param("def hide(a):\n    return a[0] + '***@' + a", 0, ["hide"], [], id="mask-by-form"),
        pytest.param("tx.get_state('last_poll')", 0, [], ["last_poll"], id="literal-key"),
        pytest.param("tx.set_state(LAST_POLL, now)\nmask_address(a)", 0, [], [], id="allowed"),
    ],
)
def test_the_checks_can_fail(source: str, alerts: int, masks: list[str], literals: list[str]) -> None:
    """Each check flags its own violation in a synthetic module and passes the allowed form."""
    assert calls_to(source, "build_alert") == alerts
    assert address_masks(source) == masks
    assert literal_state_keys(source) == literals
