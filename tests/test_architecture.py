"""Architecture: the import graph, layers, sizes, docstrings and import-time effects of mailbot (issue 14)."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import mailbot.core
from mailbot import bootstrap
from mailbot.cli import app
from tests import import_graph

CORE = Path(mailbot.core.__file__).parent
CORE_MODULES = sorted(CORE.rglob("*.py"))
MODULES = import_graph.read_package(Path(mailbot.__file__).parent)
MAX_LINES = 400

# The room of each module (a module's own entry, else its package's); a module in no room is a violation.
ROOMS = {
    "mailbot": "leaf",
    "mailbot.__main__": "cli",
    "mailbot.cli": "cli",
    "mailbot.web": "web",
    "mailbot.bootstrap": "bootstrap",
    "mailbot.sender": "bootstrap",  # the sending process, started by the runtime assembly
    "mailbot.wiring": "bootstrap",  # the desk from its adapters: all the sending process loads
    "mailbot.exports": "bootstrap",  # the export files, so that openpyxl loads only with an export
    "mailbot.imports": "bootstrap",  # the reader of `mailbot import`
    "mailbot.demo": "demo",
    "mailbot.service": "service",
    "mailbot.ports": "ports",
    "mailbot.core": "core",
    "mailbot.adapters": "adapters",
    "mailbot.scheduler": "adapters",  # the apscheduler adapter: triggers callables it is given
    "mailbot.config": "leaf",
    "mailbot.errors": "leaf",
    "mailbot.files": "leaf",
    "mailbot.logs": "leaf",
    "mailbot.redact": "leaf",
    "mailbot.templates": "leaf",
    "mailbot.migrations": "migrations",
}
# Which rooms each room may import (its own always): cli/web -> bootstrap -> service -> ports/core;
# adapters -> ports/core; config, errors, files, logs, redact: leaves all may import; nothing imports cli
# or web.
ALLOWED = {
    "core": frozenset({"core"}),
    "leaf": frozenset({"core", "leaf"}),
    "ports": frozenset({"core", "leaf"}),
    "adapters": frozenset({"core", "ports", "leaf"}),
    "service": frozenset({"core", "ports", "leaf"}),
    "bootstrap": frozenset({"service", "adapters", "ports", "core", "leaf"}),
    # `mailbot web` starts the console (web/serve.py): the one edge into web.
    "cli": frozenset({"bootstrap", "service", "ports", "core", "leaf", "demo", "web"}),
    "web": frozenset({"bootstrap", "service", "ports", "core", "leaf"}),
    "demo": frozenset({"bootstrap", "service", "adapters", "ports", "core", "leaf"}),
    "migrations": frozenset({"adapters", "core", "leaf"}),
}
# Adapters do not import each other, except these shared helpers.
SHARED_ADAPTER_MODULES = frozenset({"mailbot.adapters", "mailbot.adapters.tls"})
# Each third-party library and the only modules (or packages) that may import it.
LIBRARY_OWNERS: dict[str, tuple[str, ...]] = {
    "sqlalchemy": ("mailbot.adapters.db", "mailbot.migrations"),
    "alembic": ("mailbot.adapters.db", "mailbot.migrations"),
    "psycopg": ("mailbot.adapters.db",),
    "imapclient": ("mailbot.adapters.imap",),
    "aiosmtplib": ("mailbot.adapters.smtp",),
    "aiosmtpd": ("mailbot.demo",),
    "pymap": ("mailbot.demo",),
    "apscheduler": ("mailbot.scheduler",),
    "click": ("mailbot.cli",),
    "flufl": ("mailbot.adapters.bounces",),
    "msal": ("mailbot.adapters.oauth",),
    "email_validator": ("mailbot.adapters.addresses",),
    "rich": ("mailbot.cli.render",),
    "openpyxl": ("mailbot.adapters.exports",),
    "starlette": ("mailbot.web",),
    "jinja2": ("mailbot.web",),
    "markupsafe": ("mailbot.web",),
    "uvicorn": ("mailbot.web",),
    "multipart": ("mailbot.web",),
    "itsdangerous": ("mailbot.web",),
    # Staff passwords and TOTP: `mailbot user` hashes passwords too, and cli may not import web.
    "argon2": ("mailbot.adapters.credentials",),
    "pyotp": ("mailbot.adapters.credentials",),
}
ADAPTER_LIBRARIES = tuple(LIBRARY_OWNERS)

# KNOWN VIOLATIONS: what the tree still does wrong while issue 14 moves the rooms. Each check asserts EQUALITY
# with its list: a new violation fails, and so does a fixed one still listed (remove it from the list).
# THESE LISTS MUST BE EMPTY WHEN ISSUE 14 IS DONE.
KNOWN_LAYER_VIOLATIONS: set[str] = set()
KNOWN_CYCLES: set[str] = set()
KNOWN_LATE_IMPORTS: set[str] = set()
KNOWN_LONG_MODULES: set[str] = set()
KNOWN_DOCSTRINGS: set[str] = set()
KNOWN_IMPORT_TIME_EFFECTS: set[str] = set()
KNOWN_LIBRARY_VIOLATIONS: set[str] = set()
KNOWN_SHIMS: set[str] = set()


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


def test_the_sending_process_loads_neither_migrations_nor_scheduler_nor_console() -> None:
    """The sending process's desk (wiring.sending_desk) loads no Alembic, apscheduler or console library."""
    heavy = ["alembic", "apscheduler", "starlette", "jinja2", "uvicorn", "argon2", "pyotp", "openpyxl"]
    script = (
        "import sys\n"
        "import mailbot.sender, mailbot.service, mailbot.wiring\n"
        f"print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r})))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == ""
    assert bootstrap.sending_desk.__module__ == "mailbot.wiring"  # what the child unpickles and imports


def adapter_of(name: str) -> str:
    """The adapter a module belongs to: its module or package right below mailbot.adapters (else itself)."""
    parts = name.split(".")
    return ".".join(parts[:3]) if parts[:2] == ["mailbot", "adapters"] else name


def room_violations(modules: dict[str, import_graph.Module]) -> set[str]:
    """Imports against the layers, modules in no room, and adapters importing other adapters."""
    found = import_graph.layer_violations(modules, ROOMS, ALLOWED)
    for importer, imported in import_graph.edges(modules):
        both_adapters = (
            import_graph.room_of(importer, ROOMS) == import_graph.room_of(imported, ROOMS) == "adapters"
        )
        if (
            both_adapters
            and adapter_of(importer) != adapter_of(imported)
            and imported not in SHARED_ADAPTER_MODULES
        ):
            found.add(f"{importer} -> {imported}")
    return found


def synthetic(**sources: str) -> dict[str, import_graph.Module]:
    """A made-up package `mailbot` from module sources keyed by dotted name (`__` for a dot)."""
    modules = {}
    for key, source in sources.items():
        name = key.replace("__", ".")
        modules[name] = import_graph.Module(name, False, source)
    return modules


def test_the_walk_sees_the_whole_package() -> None:
    """The graph is read from every module of mailbot (the checks below are not vacuous)."""
    assert {"mailbot", "mailbot.core.parse", "mailbot.bootstrap", "mailbot.ports"} <= set(MODULES)
    assert len(import_graph.edges(MODULES)) > 50


def test_layers() -> None:
    """Imports point one way (ALLOWED), every module has a room, adapters import no other adapter."""
    assert room_violations(MODULES) == KNOWN_LAYER_VIOLATIONS


def test_layer_check_can_fail() -> None:
    """The layer check flags service -> adapter, adapter -> cli, adapter -> adapter and a roomless module."""
    modules = synthetic(
        mailbot__service="from mailbot.adapters import db\nfrom mailbot import ports",
        mailbot__ports="import mailbot.core.model",
        mailbot__core__model="",
        mailbot__adapters__db="from ..cli import main\nfrom mailbot.adapters import imap",
        mailbot__adapters__imap="",
        mailbot__cli="from mailbot import service",
        mailbot__stray="",
    )
    assert room_violations(modules) == {
        "mailbot.service -> mailbot.adapters.db",
        "mailbot.adapters.db -> mailbot.cli",
        "mailbot.adapters.db -> mailbot.adapters.imap",
        "mailbot.stray: no room",
    }


def test_no_import_cycles() -> None:
    """No import cycles among mailbot's modules (each listed one: modules importing each other)."""
    assert import_graph.cycles(MODULES) == KNOWN_CYCLES


def test_cycle_check_can_fail() -> None:
    """The cycle check reports a three- and a two-module cycle, not a chain nor a TYPE_CHECKING import."""
    modules = synthetic(
        mailbot__a="import mailbot.b",
        mailbot__b="from mailbot import c",
        mailbot__c="def f():\n    import mailbot.a",
        mailbot__d="from . import e",
        mailbot__e="from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from mailbot import d",
        mailbot__f="import mailbot.g",
        mailbot__g="from .h import x",
        mailbot__h="y = 1",
        mailbot__i="import mailbot.j",
        mailbot__j="import mailbot.i",
    )
    assert import_graph.cycles(modules) == {
        "mailbot.a <-> mailbot.b <-> mailbot.c",
        "mailbot.i <-> mailbot.j",
    }


# The one dynamic import by design (not to dodge a cycle): the command table loads a command's module when the
# command is used (click's documented lazy loading), so `mailbot run` does not import the console's web stack.
LAZY_COMMAND_LOADER = "mailbot.cli.app -> importlib.import_module(COMMAND_MODULES[cmd_name])"


def test_no_late_imports() -> None:
    """No import inside a function or method in mailbot (only `if TYPE_CHECKING:` blocks are allowed)."""
    assert import_graph.late_imports(MODULES) == KNOWN_LATE_IMPORTS | {LAZY_COMMAND_LOADER}


def test_command_table_names_every_command_of_its_module() -> None:
    """The CLI's command table and the modules' COMMANDS agree: each command is found where it is listed."""
    modules = set(app.COMMAND_MODULES.values())
    listed = {command.name: name for name in modules for command in importlib.import_module(name).COMMANDS}
    assert listed == app.COMMAND_MODULES
    assert {path.stem for path in (CORE.parent / "cli").glob("*.py")} - {
        "__init__",
        "app",
        "common",
        "render",
    } == {name.rsplit(".", 1)[1] for name in modules}


def test_late_import_check_can_fail() -> None:
    """The late-import check flags imports in functions and methods and dynamic ones, not top-level ones."""
    modules = synthetic(
        mailbot__a=(
            "import os\nfrom typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import mailbot.c\n"
            "def f():\n    if True:\n        import json\n"
            "class K:\n    async def m(self):\n        from mailbot import b\n"
            "def g():\n    return importlib.import_module('mailbot.c')\n"
        ),
        mailbot__b="",
        mailbot__c="",
    )
    assert import_graph.late_imports(modules) == {
        "mailbot.a -> json",
        "mailbot.a -> mailbot.b",
        "mailbot.a -> importlib.import_module('mailbot.c')",
    }


def test_modules_are_small() -> None:
    """No mailbot module is over 400 lines."""
    assert set(import_graph.long_modules(MODULES, MAX_LINES)) == KNOWN_LONG_MODULES, (
        import_graph.long_modules(MODULES, MAX_LINES)
    )


def test_size_check_can_fail() -> None:
    """The size check reports a module of 401 lines and not one of 400."""
    modules = synthetic(mailbot__big="x = 1\n" * 401, mailbot__fits="x = 1\n" * 400)
    assert import_graph.long_modules(modules, MAX_LINES) == {"mailbot.big": 401}


def test_module_docstrings_are_one_line() -> None:
    """Every mailbot module has a one-line docstring (design text lives in docs/ARCHITECTURE.md)."""
    assert import_graph.docstring_violations(MODULES) == KNOWN_DOCSTRINGS


def test_docstring_check_can_fail() -> None:
    """The docstring check reports a missing and a two-line docstring, not a one-line one."""
    modules = synthetic(
        mailbot__none="x = 1", mailbot__essay='"""One.\n\nTwo."""', mailbot__fine='"""One line."""\nx = 1'
    )
    assert import_graph.docstring_violations(modules) == {"mailbot.none: none", "mailbot.essay: 3 lines"}


def test_no_import_time_effects() -> None:
    """Importing a mailbot module patches no other module and builds no engine, client, thread or process."""
    assert import_graph.import_time_effects(MODULES) == KNOWN_IMPORT_TIME_EFFECTS


def test_effect_check_can_fail() -> None:
    """The effect check flags a patch, an engine, a thread, a client as default; not calls in a function."""
    modules = synthetic(
        mailbot__a=(
            "import email.feedparser\nimport re\nimport threading\nfrom sqlalchemy import create_engine\n"
            "email.feedparser.re = re\nENGINE = create_engine('sqlite://')\n"
            "worker = threading.Thread(target=print)\n"
            "def f(client=IMAPClient('host')):\n    return create_engine('sqlite://')\n"
            "class K:\n    pass\nK.x = 1\nPATTERN = re.compile('a')\n"
        )
    )
    assert import_graph.import_time_effects(modules) == {
        "mailbot.a: patches email.feedparser.re",
        "mailbot.a: calls create_engine()",
        "mailbot.a: calls threading.Thread()",
        "mailbot.a: calls IMAPClient()",
    }


def test_libraries_have_one_owner() -> None:
    """Each third-party library is imported only by its owner (LIBRARY_OWNERS); every library has one."""
    assert import_graph.library_violations(MODULES, LIBRARY_OWNERS) == KNOWN_LIBRARY_VIOLATIONS


def test_library_check_can_fail() -> None:
    """The library check flags a library outside its owner and an unknown one, not the owner or the stdlib."""
    modules = synthetic(
        mailbot__service="import sqlalchemy.orm\nimport json",
        mailbot__adapters__db__engine="from sqlalchemy import create_engine",
        mailbot__web__app="def f():\n    import leftpad",
    )
    assert import_graph.library_violations(modules, LIBRARY_OWNERS) == {
        "mailbot.service -> sqlalchemy",
        "mailbot.web.app -> leftpad",
    }


def test_no_reexport_shims() -> None:
    """No module is left as a re-export shim of a moved one (package `__init__` files may re-export)."""
    assert import_graph.shims(MODULES) == KNOWN_SHIMS


def test_shim_check_can_fail() -> None:
    """The shim check reports a module of only imports and `__all__`, not a package init nor a real module."""
    modules = synthetic(
        mailbot__old='"""Moved."""\nfrom mailbot.new import A, B\n__all__ = ["A", "B"]',
        mailbot__new='"""New."""\nA = B = 1',
    )
    modules["mailbot.pkg"] = import_graph.Module("mailbot.pkg", True, "from mailbot.new import A")
    assert import_graph.shims(modules) == {"mailbot.old"}
