"""The checks of tests/test_architecture.py: mailbot's modules read with ast, each returning violations."""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Module:
    """One module of the package: its dotted name, whether it is a package `__init__`, its source."""

    name: str
    is_package: bool
    source: str

    @property
    def tree(self) -> ast.Module:
        """The module's syntax tree."""
        return ast.parse(self.source)


@dataclass(frozen=True)
class Import:
    """One import statement's target, resolved to an absolute dotted name."""

    name: str
    late: bool  # inside a function body: runs when called, not when the module is imported
    type_checking: bool  # inside `if TYPE_CHECKING:`: never runs


def read_package(root: Path) -> dict[str, Module]:
    """Every module under the package directory `root`, by dotted name."""
    modules: dict[str, Module] = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        is_package = parts[-1] == "__init__"
        name = ".".join(parts[:-1] if is_package else parts)
        modules[name] = Module(name, is_package, path.read_text(encoding="utf-8"))
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(node: ast.AST, late: bool = False, guarded: bool = False) -> Iterator[tuple[ast.AST, bool, bool]]:
    """Every node below `node`, with whether it runs late (in a function) and under TYPE_CHECKING."""
    for child in ast.iter_child_nodes(node):
        yield child, late, guarded
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            # Decorators and defaults run at import time; the body runs when called.
            for part in [
                *getattr(child, "decorator_list", []),
                *child.args.defaults,
                *child.args.kw_defaults,
            ]:
                if part is not None:
                    yield part, late, guarded
                    yield from _walk(part, late, guarded)
            for statement in child.body if isinstance(child.body, list) else [child.body]:
                yield statement, True, guarded
                yield from _walk(statement, True, guarded)
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            for statement in child.body:
                yield statement, late, True
                yield from _walk(statement, late, True)
            for statement in child.orelse:
                yield statement, late, guarded
                yield from _walk(statement, late, guarded)
        else:
            yield from _walk(child, late, guarded)


def imports(module: Module, known: Mapping[str, Module] | None = None) -> list[Import]:
    """The module's imports, relative ones resolved; `from a import b` names `a.b` if that is a module."""
    found: list[Import] = []
    for node, late, guarded in _walk(module.tree):
        if isinstance(node, ast.Import):
            found.extend(Import(alias.name, late, guarded) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = module.name.split(".") if module.is_package else module.name.split(".")[:-1]
                base = ".".join(
                    [*package[: len(package) - node.level + 1], *([node.module] if node.module else [])]
                )
            else:
                base = node.module or ""
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                target = submodule if known is not None and submodule in known else base
                found.append(Import(target, late, guarded))
    return found


def internal_target(name: str, modules: Mapping[str, Module]) -> str | None:
    """The package module an imported name lands in (its longest known prefix), or None if it is not ours."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def edges(modules: Mapping[str, Module], runtime_only: bool = False) -> set[tuple[str, str]]:
    """(importer, imported) among the package's modules; runtime_only leaves out TYPE_CHECKING imports."""
    found: set[tuple[str, str]] = set()
    for module in modules.values():
        for imported in imports(module, modules):
            if runtime_only and imported.type_checking:
                continue
            target = internal_target(imported.name, modules)
            if target is not None and target != module.name:
                found.add((module.name, target))
    return found


def room_of(name: str, rooms: Mapping[str, str]) -> str | None:
    """The room of a module: its own entry in `rooms`, else its longest package prefix's (not the top's)."""
    if name in rooms:
        return rooms[name]
    parts = name.split(".")
    for end in range(len(parts) - 1, 1, -1):  # the top package itself is no prefix: its modules need a room
        room = rooms.get(".".join(parts[:end]))
        if room is not None:
            return room
    return None


def layer_violations(
    modules: Mapping[str, Module], rooms: Mapping[str, str], allowed: Mapping[str, frozenset[str]]
) -> set[str]:
    """'a -> b' for each import into a room `a` may not import; 'a: no room' for an unplaced module."""
    found = {f"{name}: no room" for name in modules if room_of(name, rooms) is None}
    for importer, imported in edges(modules):
        source, target = room_of(importer, rooms), room_of(imported, rooms)
        if source is None or target is None or source == target:
            continue
        if target not in allowed[source]:
            found.add(f"{importer} -> {imported}")
    return found


def cycles(modules: Mapping[str, Module]) -> set[str]:
    """Each import cycle among the package's modules (a strongly connected component), its members sorted."""
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for importer, imported in edges(modules, runtime_only=True):
        graph[importer].add(imported)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: set[str] = set()

    def visit(
        start: str,
    ) -> None:  # Tarjan's algorithm, iterative (deep graphs do not hit the recursion limit)
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    members = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        members.append(member)
                        if member == node:
                            break
                    if len(members) > 1:
                        components.add(" <-> ".join(sorted(members)))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph[child]))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])

    for name in sorted(graph):
        if name not in index:
            visit(name)
    return components


def late_imports(modules: Mapping[str, Module]) -> set[str]:
    """'module -> imported' for each import inside a function (TYPE_CHECKING blocks are allowed), and for
    each dynamic import (importlib.import_module, __import__) wherever it stands."""
    found = {
        f"{module.name} -> {imported.name}"
        for module in modules.values()
        for imported in imports(module, modules)
        if imported.late and not imported.type_checking
    }
    for module in modules.values():
        for node in ast.walk(module.tree):
            if isinstance(node, ast.Call) and _called_name(node) in {"import_module", "__import__"}:
                found.add(f"{module.name} -> {ast.unparse(node)}")
    return found


def long_modules(modules: Mapping[str, Module], limit: int) -> dict[str, int]:
    """The modules over `limit` lines, with their line counts."""
    counts = {module.name: len(module.source.splitlines()) for module in modules.values()}
    return {name: count for name, count in counts.items() if count > limit}


def docstring_violations(modules: Mapping[str, Module]) -> set[str]:
    """'module: none' for a module without a docstring, 'module: N lines' for one longer than a line."""
    found: set[str] = set()
    for module in modules.values():
        docstring = ast.get_docstring(module.tree, clean=False)
        if docstring is None:
            found.add(f"{module.name}: none")
        elif len(docstring.strip().splitlines()) > 1:
            found.add(f"{module.name}: {len(docstring.strip().splitlines())} lines")
    return found


# Calls that build a client, an engine, a thread or a process, or change the process: never at import time.
SIDE_EFFECT_CALLS = frozenset(
    {
        "create_engine", "create_async_engine", "sessionmaker", "scoped_session", "IMAPClient", "SMTP",
        "SMTP_SSL", "Thread", "Timer", "Process", "Pool", "ThreadPoolExecutor", "ProcessPoolExecutor",
        "BackgroundScheduler", "BlockingScheduler", "AsyncIOScheduler", "Controller", "socket", "socketpair",
        "create_connection", "connect", "start", "run", "basicConfig", "dictConfig", "signal", "register",
        "setrecursionlimit", "set_start_method", "setlocale", "freeze", "disable", "seed", "chdir", "umask",
        "putenv", "filterwarnings", "simplefilter", "setdefaulttimeout", "add_type", "setattr", "Popen",
        "get_event_loop", "new_event_loop", "set_event_loop",
    }
)  # fmt: skip


def _root_name(node: ast.expr) -> str | None:
    while isinstance(node, ast.Attribute | ast.Subscript):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _called_name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def import_time_effects(modules: Mapping[str, Module]) -> set[str]:
    """What runs at import time and reaches outside the module: patching an imported module, a listed call."""
    found: set[str] = set()
    for module in modules.values():
        tree = module.tree
        imported_names = {
            (alias.asname or alias.name).split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom)
            for alias in node.names
        }
        for node, late, _guarded in _walk(tree):
            if late:
                continue
            if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign | ast.Delete):
                targets = node.targets if isinstance(node, ast.Assign | ast.Delete) else [node.target]
                for target in targets:
                    root = _root_name(target)
                    if isinstance(target, ast.Attribute | ast.Subscript) and root in imported_names:
                        found.add(f"{module.name}: patches {ast.unparse(target)}")
            elif isinstance(node, ast.Call) and _called_name(node) in SIDE_EFFECT_CALLS:
                found.add(f"{module.name}: calls {ast.unparse(node.func)}()")
    return found


def library_violations(modules: Mapping[str, Module], owners: Mapping[str, tuple[str, ...]]) -> set[str]:
    """'module -> library' for a third-party import outside its owners, or of a library with none."""
    found: set[str] = set()
    for module in modules.values():
        for imported in imports(module):
            top = imported.name.split(".")[0]
            if not top or top in sys.stdlib_module_names or top == module.name.split(".")[0]:
                continue
            allowed = owners.get(top)
            if allowed is None or room_of(module.name, dict.fromkeys(allowed, "owner")) is None:
                found.add(f"{module.name} -> {top}")
    return found


def shims(modules: Mapping[str, Module]) -> set[str]:
    """Modules (not package `__init__`s) whose body is only imports: re-export shims left behind by a move."""
    found: set[str] = set()
    for module in modules.values():
        body = module.tree.body
        if module.is_package or not body:
            continue
        if ast.get_docstring(module.tree) is not None:
            body = body[1:]
        is_all = [
            isinstance(node, ast.Assign | ast.AnnAssign) and "__all__" in ast.unparse(node).split("=")[0]
            for node in body
        ]
        rest = [node for node, all_ in zip(body, is_all, strict=True) if not all_]
        if rest and all(isinstance(node, ast.Import | ast.ImportFrom) for node in rest):
            found.add(module.name)
    return found
