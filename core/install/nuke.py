"""`genplate install nuke`: put genplate on Nuke's plugin path without hand-editing menu.py.

Two ways, both idempotent:
- ``mode="init"`` (default): a guarded block in the user's ``~/.nuke/init.py`` that calls
  ``nuke.pluginAddPath(<genplate's nuke folder>)``. Running it again replaces the block (the
  path may have moved), never adds a second one; everything else in the file is kept.
- ``mode="env"``: nothing is edited; the answer says which ``NUKE_PATH`` to set (pipelines
  that launch Nuke with their own environment want this).

Either way it records the Python that runs the engine (the one running this command) in the
config file the panel reads (genplate.panel.engine_config), so Nuke starts the right engine.
An install into a folder of its own (``--dest``, e.g. a show's .nuke) keeps everything there:
the block itself names the engine (``$GENPLATE_ENGINE`` for that Nuke session) and the user's
global record is left alone.
"""
from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import Optional

from ..atomic import write_text_atomically

BEGIN = "# >>> genplate >>>"
END = "# <<< genplate <<<"


class InstallError(RuntimeError):
    """Installation cannot go on; the message says what to change."""


def plugin_dir() -> Path:
    """The folder Nuke must load: genplate.nuke's (plugins/nuke in a checkout)."""
    spec = importlib.util.find_spec("genplate.nuke")
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        raise InstallError("genplate.nuke is not installed beside the engine; reinstall genplate")
    folder = Path(locations[0]).resolve()
    for needed in ("init.py", "menu.py", "read.py"):
        if not (folder / needed).is_file():
            raise InstallError(f"{folder} has no {needed}; reinstall genplate")
    if not (folder.parent / "panel" / "panel.py").is_file():
        raise InstallError(f"the shared panel is missing beside {folder} (expected "
                           f"{folder.parent / 'panel'}); reinstall genplate")
    return folder


def default_nuke_dir() -> Path:
    return Path.home() / ".nuke"


def engine_line(python: str) -> str:
    """The engine's command line, quoted for this OS the way engine_config.split_command
    reads it back."""
    import shlex
    import subprocess

    words = [str(python), "-m", "genplate.core.cli"]
    return subprocess.list2cmdline(words) if os.name == "nt" else shlex.join(words)


def init_block(folder: Path, engine: Optional[str] = None) -> str:
    # repr() gives a Python string literal that survives Windows backslashes and spaces (the
    # hand-edited menu.py failures users report). addToSysPath=False: Nuke still runs the
    # folder's init.py/menu.py, but its modules (read, node, menus...) do not become top-level
    # names that another plugin's `import node` could pick up; init.py registers them under
    # genplate.nuke itself. ``engine``: the command line the panel and the node run (an install
    # with --dest); setdefault, so a pipeline's own $GENPLATE_ENGINE still wins.
    names_engine = (f"    import os\n"
                    f"    os.environ.setdefault('GENPLATE_ENGINE', {engine!r})\n") if engine else ""
    return (f"{BEGIN} added by `genplate install nuke`; remove the block to uninstall\n"
            f"try:\n"
            f"{names_engine}"
            f"    import nuke\n"
            f"    nuke.pluginAddPath({str(folder)!r}, addToSysPath=False)\n"
            f"except Exception:\n"
            f"    import traceback\n"
            f"    traceback.print_exc()\n"
            f"{END}\n")


def with_block(text: str, block: str) -> str:
    """``text`` with genplate's block replaced (or appended once)."""
    start = text.find(BEGIN)
    if start != -1:
        end = text.find(END, start)
        if end == -1:
            raise InstallError(f"~/.nuke/init.py has a '{BEGIN}' line without '{END}': fix or "
                               f"remove that block by hand, then run the install again")
        end = text.find("\n", end)
        end = len(text) if end == -1 else end + 1
        return text[:start] + block + text[end:]
    if text and not text.endswith("\n"):
        text += "\n"
    return text + ("\n" if text else "") + block


def install(*, mode: str = "init", nuke_dir: Optional[Path] = None,
            python: Optional[str] = None, dry_run: bool = False,
            record_engine: bool = True) -> dict:
    """Install genplate for Nuke; returns what was done, or with ``dry_run`` what would be
    (the --json answer). ``record_engine=False``: the init.py block names the engine instead
    of the user's global engine record (an install into a folder of its own)."""
    from genplate.panel.engine_config import config_path, write_engine

    if mode not in ("init", "env"):
        raise InstallError(f"mode {mode!r}: use 'init' (edit ~/.nuke/init.py) or 'env' (print "
                           f"the NUKE_PATH to set)")
    folder = plugin_dir()
    python = python or sys.executable
    result: dict = {"host": "nuke", "mode": mode, "plugin_path": str(folder),
                    "python": python, "dry_run": dry_run, "changed": False,
                    "engine_config": str(config_path()) if record_engine else None}
    result["engine"] = result["engine_config"]
    if mode == "env":
        current = os.environ.get("NUKE_PATH", "")
        parts = [p for p in current.split(os.pathsep) if p]
        result["nuke_path"] = os.pathsep.join([str(folder)] + [p for p in parts
                                                               if Path(p) != folder])
        result["instructions"] = f"set NUKE_PATH={result['nuke_path']} before starting Nuke"
    else:
        init_py = (nuke_dir or default_nuke_dir()) / "init.py"
        result["init_py"] = str(init_py)
        try:
            before = init_py.read_text(encoding="utf-8") if init_py.exists() else ""
        except OSError as exc:
            raise InstallError(f"cannot read {init_py}: {exc}") from exc
        after = with_block(before, init_block(folder, None if record_engine else
                                              engine_line(python)))
        if not record_engine:
            result["engine"] = str(init_py)
        result["changed"] = after != before
        if result["changed"] and not dry_run:
            try:
                write_text_atomically(init_py, after)
            except OSError as exc:
                raise InstallError(f"cannot write {init_py}: {exc}; use --mode env and set "
                                   f"NUKE_PATH instead") from exc
    result["notes"] = [
        "restart Nuke: the genplate menu, the genplate node (Nodes toolbar) and the genplate "
        "panel (any pane's content menu, Windows > Custom) appear",
        f"the panel and the node run the engine as: {python} -m genplate.core.cli",
    ]
    if mode == "env":
        result["notes"].append("NUKE_PATH folders are also put on sys.path, so genplate's "
                               "module names (read, node, menus...) are importable at top level "
                               "there; the init.py line (the default mode) avoids that")
        if not record_engine:
            result["instructions"] += f" and GENPLATE_ENGINE={engine_line(python)}"
    if record_engine and not dry_run:
        try:
            write_engine(python, written_by="genplate install nuke")
        except OSError as exc:
            raise InstallError(f"cannot record the engine in {config_path()}: {exc}") from exc
    return result


__all__ = ["install", "InstallError", "plugin_dir", "init_block", "with_block"]
