"""The host side imports nothing a host's Python lacks (DESIGN.md, the walls).

Every module under plugins/ is parsed (not imported: the host APIs are not here) and each
import is checked against the allowed set: the standard library, Qt, the host APIs and the
genplate host packages themselves.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PLUGINS = Path(__file__).resolve().parent.parent / "plugins"
QT = {"PySide6", "PySide2", "shiboken6", "shiboken2"}
HOST_APIS = {"nuke", "nukescripts", "DaVinciResolveScript", "fusionscript"}
OWN = ("genplate.panel", "genplate.nuke", "genplate.resolve")
FORBIDDEN = {"numpy", "av", "OpenImageIO", "PyOpenColorIO", "requests", "platformdirs", "tqdm",
             "keyring", "opentimelineio", "qtpy"}


def _modules() -> list[Path]:
    return sorted(p for p in PLUGINS.rglob("*.py") if "__pycache__" not in p.parts)


def _package_of(path: Path) -> str:
    """genplate.<room>[.sub] for a file under plugins/<room>/..."""
    rel = path.relative_to(PLUGINS).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    else:
        parts = parts[:-1]
    return ".".join(["genplate", *parts])


def imported_names(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in the file, relative ones resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = _package_of(path).split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names.append((node.lineno, module))
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "__import__" \
                and node.args and isinstance(node.args[0], ast.Constant):
            names.append((node.lineno, str(node.args[0].value)))
    return names


def allowed(module: str) -> bool:
    top = module.split(".")[0]
    if top in FORBIDDEN:
        return False
    if top == "genplate":
        return module == "genplate" or module.startswith(tuple(p + "." for p in OWN)) \
            or module in OWN
    if top == "__future__" or top in sys.stdlib_module_names:
        return True
    return top in QT or top in HOST_APIS


def test_there_are_plugin_modules_to_check():
    files = {p.relative_to(PLUGINS).as_posix() for p in _modules()}
    assert "panel/host.py" in files and "panel/engine.py" in files


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.relative_to(PLUGINS).as_posix())
def test_plugin_module_imports_only_stdlib_qt_and_host(path):
    bad = [f"{path.relative_to(PLUGINS)}:{line} imports {name}"
           for line, name in imported_names(path) if not allowed(name)]
    assert not bad, "host-side modules may import only the standard library, Qt, the host " \
                    "API and genplate.panel/nuke/resolve:\n" + "\n".join(bad)


def test_host_adapter_and_engine_config_need_no_qt():
    # core's installers import engine_config, and host.py is the adapters' base: neither may
    # pull Qt in, directly or through a sibling.
    for name in ("host.py", "engine_config.py", "commands.py"):
        mods = {m for _l, m in imported_names(PLUGINS / "panel" / name)}
        assert not any(m.split(".")[0] in QT for m in mods), name
        assert "genplate.panel.qt" not in mods and "genplate.panel.engine" not in mods, name


@pytest.mark.parametrize("module, ok", [
    ("os", True), ("json", True), ("PySide6.QtWidgets", True), ("PySide2", True),
    ("nuke", True), ("nukescripts.panels", True), ("DaVinciResolveScript", True),
    ("genplate.panel.engine", True), ("genplate.nuke.read", True),
    ("numpy", False), ("av", False), ("OpenImageIO", False), ("PyOpenColorIO", False),
    ("requests", False), ("genplate.core", False), ("genplate.core.cli", False),
    ("genplate.ocio", False), ("yaml", False), ("qtpy", False),
])
def test_the_rule_itself(module, ok):
    assert allowed(module) is ok


def test_relative_imports_are_resolved(tmp_path, monkeypatch):
    fake = tmp_path / "panel" / "x.py"
    fake.parent.mkdir()
    fake.write_text("from ..core import cli\nfrom . import qt\nimport numpy as np\n")
    monkeypatch.setattr(sys.modules[__name__], "PLUGINS", tmp_path)
    names = [n for _l, n in imported_names(fake)]
    assert names == ["genplate.core", "genplate.panel", "numpy"]
    assert [allowed(n) for n in names] == [False, True, False]
