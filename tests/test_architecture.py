"""Architecture: mailbot.core imports only the standard library and itself (house style 4)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import mailbot.core

CORE = Path(mailbot.core.__file__).parent
CORE_MODULES = sorted(CORE.rglob("*.py"))
ADAPTER_LIBRARIES = (
    "sqlalchemy",
    "alembic",
    "imapclient",
    "aiosmtplib",
    "aiosmtpd",
    "apscheduler",
    "click",
    "pymap",
    "flufl",
    "msal",
)


def module_name(path: Path) -> str:
    """The dotted name of a module file under mailbot/core."""
    parts = path.relative_to(CORE.parent.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def foreign_imports(source: str, module: str, is_package: bool = False) -> list[str]:
    """Imported module names that are neither standard library nor mailbot.core."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the importing module's package
                package = module.split(".") if is_package else module.split(".")[:-1]
                base = package[: len(package) - node.level + 1]
                names = [".".join([*base, *([node.module] if node.module else [])])]
            else:
                names = [node.module or ""]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if top in sys.stdlib_module_names:
                continue
            if name == "mailbot.core" or name.startswith("mailbot.core."):
                continue
            found.append(name)
    return found


def test_core_modules_are_found() -> None:
    """The walk sees the core's modules, rules included (the import check below is not vacuous)."""
    names = {module_name(path) for path in CORE_MODULES}
    assert {"mailbot.core.parse", "mailbot.core.chain", "mailbot.core.rules.own_mail"} <= names


@pytest.mark.parametrize("path", CORE_MODULES, ids=module_name)
def test_core_imports_only_stdlib_and_core(path: Path) -> None:
    """Every import in a mailbot.core module is from the standard library or mailbot.core itself."""
    module = module_name(path)
    assert foreign_imports(path.read_text(encoding="utf-8"), module, path.name == "__init__.py") == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param("import sqlalchemy.orm", ["sqlalchemy.orm"], id="third-party"),
        pytest.param("from mailbot.adapters import db", ["mailbot.adapters"], id="shell-module"),
        pytest.param("from ...adapters import db", ["mailbot.adapters"], id="relative-out-of-core"),
        pytest.param("def f():\n    import apscheduler", ["apscheduler"], id="inside-a-function"),
        pytest.param("from . import model\nimport email.utils\nimport re", [], id="allowed"),
    ],
)
def test_checker_flags_foreign_imports(source: str, expected: list[str]) -> None:
    """The import checker itself flags third-party and shell imports, also relative and nested ones."""
    assert foreign_imports(source, "mailbot.core.rules.x") == expected


def test_importing_core_loads_no_adapter_library() -> None:
    """Importing every mailbot.core module in a fresh interpreter loads none of the adapters' libraries."""
    modules = [module_name(path) for path in CORE_MODULES]
    script = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in {ADAPTER_LIBRARIES!r})))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == ""
