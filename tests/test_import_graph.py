"""The house keeps its shape: no import cycles, no grab-bag files (DESIGN.md, "Rooms").

Beside test_plugin_imports.py (the walls), this walks every import genplate writes, the ones
inside functions included (a lazy import is still a dependency; it only moves the moment it is
paid for), and fails on any cycle between two modules. Imports under ``if TYPE_CHECKING:`` are
left out: they never run. A package's own ``__init__`` counts only for what it imports itself.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ROOMS = {"core": "genplate.core", "ocio": "genplate.ocio", "plugins/panel": "genplate.panel",
         "plugins/nuke": "genplate.nuke", "plugins/resolve": "genplate.resolve"}
MAX_LINES = 600
MAX_LOOSE_CORE_MODULES = 10


def _sources() -> dict[str, Path]:
    """genplate module name -> file, for every module the project installs."""
    found = {}
    for folder, package in ROOMS.items():
        base = REPO / folder
        for path in sorted(base.rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            parts = list(path.relative_to(base).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join([package, *parts])] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST):
    """Every Import/ImportFrom node, skipping the bodies of ``if TYPE_CHECKING:``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def dependencies(module: str, path: Path, modules: set[str]) -> set[str]:
    """The genplate modules ``module`` imports (``from pkg import mod`` names ``pkg.mod``)."""
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in _imports(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
            found.update(t for t in targets if t in modules)
            continue
        if node.level:
            base = package.split(".")
            base = base[: len(base) - (node.level - 1)]
            target = ".".join(base + ([node.module] if node.module else []))
        else:
            target = node.module or ""
        for alias in node.names:
            sub = f"{target}.{alias.name}"
            if sub in modules:
                found.add(sub)
            elif target in modules:
                found.add(target)
    found.discard(module)
    return found


def import_graph() -> dict[str, set[str]]:
    sources = _sources()
    modules = set(sources)
    return {name: dependencies(name, path, modules) for name, path in sources.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_graph_sees_the_engine_and_the_hosts():
    graph = import_graph()
    assert "genplate.core.jobs.runner" in graph and "genplate.panel.panel" in graph
    assert "genplate.core.jobs.ledger" in graph["genplate.core.jobs.runner"]
    # a lazy import inside a function is an edge too
    assert "genplate.core.delivery.fetch" in graph["genplate.core.jobs.runner"]


def test_no_import_cycle_anywhere_in_genplate():
    found = cycles(import_graph())
    assert not found, "modules that import each other (directly or around a loop):\n" + \
        "\n".join(" <-> ".join(c) for c in found)


def test_a_cycle_is_found_when_there_is_one():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_type_checking_imports_and_from_package_import_module(tmp_path):
    pkg = tmp_path / "x.py"
    pkg.write_text("from typing import TYPE_CHECKING\n"
                   "from . import ledger as L\n"
                   "if TYPE_CHECKING:\n    from .runner import JobRunner\n"
                   "def f():\n    from ..request import ShotRequest\n")
    modules = {"genplate.core.jobs.ledger", "genplate.core.jobs.runner", "genplate.core.request",
               "genplate.core.jobs.x"}
    assert dependencies("genplate.core.jobs.x", pkg, modules) == {
        "genplate.core.jobs.ledger", "genplate.core.request"}


@pytest.mark.parametrize("name", sorted(_sources()))
def test_no_module_grows_into_a_grab_bag(name):
    path = _sources()[name]
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, (f"{path.relative_to(REPO)} has {lines} lines: split it along "
                                f"its concerns (DESIGN.md aims for ~500)")


def test_core_keeps_few_loose_modules():
    loose = sorted(p.name for p in (REPO / "core").glob("*.py"))
    assert len(loose) <= MAX_LOOSE_CORE_MODULES, loose
