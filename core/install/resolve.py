"""`genplate install resolve`: the Workspace > Scripts > genplate launcher, for this user.

The launcher (genplate.resolve.launcher) goes into Resolve's per-user ``Fusion/Scripts/Utility``
folder, where Resolve lists it on every page (hosts.md §3.2). It records the Python running
this command (the engine's), because the panel runs there and not in Resolve's interpreter; the
same Python is recorded for the panel's engine client (genplate.panel.engine_config).

Written atomically and idempotently: a second install with nothing changed rewrites nothing.
The Resolve panel needs DaVinci Resolve Studio (external scripting; hosts.md §3.1).
"""
from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import Optional

from ..atomic import write_text_atomically

LAUNCHER_NAME = "genplate.py"
_PYTHON_LINE = 'ENGINE_PYTHON = ""'
_ENV_LINE = "ENGINE_ENV = {}"
# Settings worth carrying into the panel Resolve starts (it does not inherit this shell's env).
# Never credentials: the Luma key lives in the keyring.
CARRIED_ENV = ("GENPLATE_DATA_DIR", "GENPLATE_ROOT", "GENPLATE_CONFIG_DIR", "OCIO")


class InstallError(RuntimeError):
    """The launcher could not be installed; the message says what to change."""


def scripts_dir(platform: Optional[str] = None, env: Optional[dict] = None,
                home: Optional[Path] = None) -> Path:
    """Resolve's per-user Fusion/Scripts/Utility folder on this OS (Resolve's README)."""
    platform = platform or sys.platform
    env = os.environ if env is None else env
    home = Path(home) if home else Path.home()
    if platform.startswith("darwin"):
        base = home / "Library" / "Application Support" / "Blackmagic Design" / "DaVinci Resolve"
    elif platform.startswith("win"):
        appdata = env.get("APPDATA") or str(home / "AppData" / "Roaming")
        base = Path(appdata) / "Blackmagic Design" / "DaVinci Resolve" / "Support"
    else:
        base = home / ".local" / "share" / "DaVinciResolve"
    return base / "Fusion" / "Scripts" / "Utility"


def launcher_template() -> str:
    spec = importlib.util.find_spec("genplate.resolve.launcher")
    if spec is None or not spec.origin:
        raise InstallError("genplate.resolve is not installed with the engine; reinstall "
                           "genplate")
    return Path(spec.origin).read_text(encoding="utf-8")


def render_launcher(python: str, env: Optional[dict] = None, *, engine: str = "") -> str:
    """The launcher's text with the engine's Python (and carried settings) written in;
    ``engine``: the command line the panel runs the engine with (instead of the global record)."""
    text = launcher_template()
    if text.count(_PYTHON_LINE) != 1 or text.count(_ENV_LINE) != 1:
        raise InstallError("the launcher template has lost its ENGINE_PYTHON/ENGINE_ENV lines")
    carried = {k: v for k, v in sorted((env or {}).items()) if k in CARRIED_ENV and v}
    if engine:
        carried = dict(sorted({**carried, "GENPLATE_ENGINE": engine}.items()))
    text = text.replace(_PYTHON_LINE, f"ENGINE_PYTHON = {str(python)!r}", 1)
    return text.replace(_ENV_LINE, f"ENGINE_ENV = {carried!r}", 1)


def install(dest: Optional[str] = None, *, python: Optional[str] = None,
            env: Optional[dict] = None, record_engine: bool = True,
            dry_run: bool = False) -> dict:
    """Install (or refresh) the launcher; returns what was done (or, ``dry_run``, what would
    be), for --json. ``record_engine=False``: the launcher names the engine itself and the
    user's global engine record is left alone (an install into a folder of its own)."""
    from .nuke import engine_line

    python = str(python or sys.executable)
    if not Path(python).exists():
        raise InstallError(f"the engine's Python {python} does not exist")
    env = dict(os.environ if env is None else env)
    target = Path(dest).expanduser() if dest else scripts_dir(env=env)
    path = target if target.suffix == ".py" else target / LAUNCHER_NAME
    text = render_launcher(python, env, engine="" if record_engine else engine_line(python))
    try:
        current = path.read_text(encoding="utf-8") if path.exists() else None
        changed = current != text
        if changed and not dry_run:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_text_atomically(path, text)
    except OSError as exc:
        raise InstallError(f"cannot write the Resolve launcher to {path}: {exc}; pass "
                           f"--dest with a folder you can write (Fusion/Scripts/Utility)") from None
    result = {"host": "resolve", "launcher": str(path), "engine_python": python,
              "changed": changed, "dry_run": dry_run, "engine_config": None,
              "engine": str(path),
              "carried_env": sorted(k for k in CARRIED_ENV if env.get(k)),
              "notes": ["In Resolve: Workspace > Scripts > genplate (every page).",
                        "Needs DaVinci Resolve Studio with Preferences > System > General > "
                        "External scripting using: Local."]}
    if record_engine:
        from genplate.panel.engine_config import config_path, write_engine

        result["engine_config"] = result["engine"] = str(
            config_path() if dry_run else write_engine(python, written_by="genplate install resolve"))
    return result


__all__ = ["InstallError", "LAUNCHER_NAME", "scripts_dir", "render_launcher", "install"]
