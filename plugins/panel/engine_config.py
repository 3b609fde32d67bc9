"""Which command runs the engine, as the host side finds it (standard library only, no Qt).

The engine lives in its own Python (a venv with numpy, OpenColorIO, OpenImageIO, PyAV); the
hosts' Pythons cannot import it. ``genplate install nuke|resolve`` runs in the engine's Python
and records that Python here, so a panel inside Nuke or Resolve knows what to start. The
installers (genplate.core.install) write this file through ``write_engine``; the panel reads
it through ``engine_command``. Keeping both in this Qt-free module keeps the format in one place.

Order: ``$GENPLATE_ENGINE`` (a command line), the recorded config, ``genplate`` on PATH, and
last ``<this Python> -m genplate.core.cli`` when the engine is importable here (tests, a
standalone panel run from the engine's own venv).
"""
from __future__ import annotations

import importlib.util
import json
import os
import shlex
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Optional

ENGINE_ENV = "GENPLATE_ENGINE"
CONFIG_DIR_ENV = "GENPLATE_CONFIG_DIR"
CONFIG_NAME = "engine.json"


class EngineNotFound(RuntimeError):
    """No way to start the engine from this Python; the message says how to fix it."""


def config_dir() -> Path:
    """The per-user genplate config folder (``$GENPLATE_CONFIG_DIR`` overrides it)."""
    override = os.environ.get(CONFIG_DIR_ENV)
    if override:
        return Path(override).expanduser()
    if sys.platform == "win32":
        base = os.environ.get("APPDATA") or str(Path.home() / "AppData" / "Roaming")
        return Path(base) / "genplate"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "genplate"
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "genplate"


def config_path() -> Path:
    return config_dir() / CONFIG_NAME


def read_config() -> dict:
    """The recorded engine config, or {} when there is none (or it is unreadable)."""
    try:
        data = json.loads(config_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_engine(python: str, *, written_by: str, extra: Optional[dict] = None) -> Path:
    """Record that ``python -m genplate.core.cli`` runs the engine (atomically)."""
    data = read_config()
    data.update(extra or {})
    data["python"] = str(python)
    data["command"] = [str(python), "-m", "genplate.core.cli"]
    data["written_by"] = written_by
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".engine.", suffix=".tmp", dir=str(path.parent))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def engine_command() -> tuple[list[str], str]:
    """(argv prefix that runs the engine's `genplate`, where that choice came from)."""
    env = os.environ.get(ENGINE_ENV, "").strip()
    if env:
        return split_command(env, windows=os.name == "nt"), f"${ENGINE_ENV}"
    command = read_config().get("command")
    if isinstance(command, list) and command and all(isinstance(c, str) for c in command):
        if Path(command[0]).exists() or shutil.which(command[0]):
            return list(command), str(config_path())
    on_path = shutil.which("genplate")
    if on_path:
        return [on_path], "PATH"
    if _engine_importable_here():
        return [sys.executable, "-m", "genplate.core.cli"], "this Python"
    raise EngineNotFound(
        "genplate's engine was not found: run `genplate install nuke` (or `install resolve`) "
        f"from the engine's Python, or set {ENGINE_ENV} to the engine's `genplate` command")


def split_command(text: str, *, windows: bool) -> list[str]:
    """A command line's words. Windows keeps backslashes (paths) but drops the quotes that
    protect spaces, which shlex's non-POSIX mode would leave on the words."""
    if not windows:
        return shlex.split(text)
    words = shlex.split(text, posix=False)
    return [w[1:-1] if len(w) >= 2 and w[0] == w[-1] and w[0] in "\"'" else w for w in words]


def _engine_importable_here() -> bool:
    # Inside a host sys.executable is the host's binary (Nuke, Resolve), which cannot run `-m`.
    name = Path(sys.executable).name.lower()
    if not name.startswith("python"):
        return False
    try:
        return importlib.util.find_spec("genplate.core.cli") is not None
    except (ImportError, ValueError):
        return False


def engine_environment(base: Optional[dict] = None, *, source: str = "") -> dict:
    """The environment the engine starts with: the host's, minus what breaks another Python.

    Hosts set PYTHONHOME/PYTHONPATH for their own interpreter; the engine's venv must not
    inherit them, or it imports the host's standard library.
    """
    env = dict(os.environ if base is None else base)
    env.pop("PYTHONHOME", None)
    if source != "this Python":
        env.pop("PYTHONPATH", None)
    env.setdefault("PYTHONIOENCODING", "utf-8")
    return env


__all__ = ["ENGINE_ENV", "CONFIG_DIR_ENV", "EngineNotFound", "config_dir", "config_path",
           "read_config", "write_engine", "engine_command", "engine_environment", "split_command"]
