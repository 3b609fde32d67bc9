"""Attach genplate's own Python to the running DaVinci Resolve (external scripting).

The panel runs outside Resolve, in the engine's Python, so nothing is installed into Resolve's
interpreter (hosts.md §6: the most common Resolve failure). It reaches Resolve the documented
way (Resolve's scripting README; hosts.md §3.1): the ``fusionscript`` library found through
``RESOLVE_SCRIPT_LIB`` (or the per-OS default install path), or the ``DaVinciResolveScript``
module under ``$RESOLVE_SCRIPT_API/Modules``, then ``scriptapp("Resolve")``.

``scriptapp`` answers None for three different reasons, and each needs a different fix: Resolve
is not running; it is the free edition (external scripting is Studio-only, and from 21.1 Python
scripting is Studio-only altogether); or Studio's external scripting is switched off. The
launcher inside Resolve passes the product name it sees (``--product``), which tells the free
edition apart; a process check tells "not running" apart from "scripting off".
"""
from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Optional

SCRIPTING_PREFERENCE = "Preferences > System > General > External scripting using: Local"

MESSAGES = {
    "not_running": (
        "DaVinci Resolve is not running: start Resolve Studio and open a project, then start "
        "genplate from Workspace > Scripts > genplate."),
    "free_edition": (
        "This is the free DaVinci Resolve: genplate's panel needs DaVinci Resolve Studio. "
        "Only Studio lets another program (genplate's own Python) script Resolve, and from "
        "Resolve 21.1 Python scripting is Studio-only altogether. Takes can still be imported "
        "by hand from their folders, or used in Nuke."),
    "scripting_off": (
        "Resolve Studio is running but does not accept outside scripts: turn on "
        f"{SCRIPTING_PREFERENCE}, restart Resolve, then start genplate again."),
    "unknown": (
        "Resolve did not answer: either it is not running (start Resolve Studio and open a "
        f"project) or its external scripting is off (turn on {SCRIPTING_PREFERENCE}). The "
        "free Resolve cannot be scripted from outside at all."),
}


class ResolveConnectError(RuntimeError):
    """genplate could not attach to Resolve; ``reason`` says why, the message how to fix it."""

    def __init__(self, reason: str, message: Optional[str] = None) -> None:
        super().__init__(message or MESSAGES.get(reason, reason))
        self.reason = reason


def script_paths(platform: Optional[str] = None, env: Optional[dict] = None) -> dict:
    """Where Resolve's scripting API lives: {"api", "modules", "libs": [candidates]}.

    The environment variables Resolve's README documents win; the defaults follow the README
    per OS (Linux ISO installs live under /home/resolve instead of /opt/resolve).
    """
    platform = platform or sys.platform
    env = os.environ if env is None else env
    if platform.startswith("darwin"):
        api = "/Library/Application Support/Blackmagic Design/DaVinci Resolve/Developer/Scripting"
        libs = ["/Applications/DaVinci Resolve/DaVinci Resolve.app/Contents/Libraries/Fusion/"
                "fusionscript.so"]
    elif platform.startswith("win") or platform.startswith("cygwin"):
        programdata = env.get("PROGRAMDATA", r"C:\ProgramData")
        api = programdata + r"\Blackmagic Design\DaVinci Resolve\Support\Developer\Scripting"
        libs = [r"C:\Program Files\Blackmagic Design\DaVinci Resolve\fusionscript.dll"]
    else:
        api = "/opt/resolve/Developer/Scripting"
        libs = ["/opt/resolve/libs/Fusion/fusionscript.so",
                "/home/resolve/libs/Fusion/fusionscript.so"]
    api = env.get("RESOLVE_SCRIPT_API") or api
    if env.get("RESOLVE_SCRIPT_LIB"):
        libs = [env["RESOLVE_SCRIPT_LIB"]] + libs
    sep = "\\" if platform.startswith(("win", "cygwin")) else "/"
    return {"api": api, "modules": api.rstrip("/\\") + sep + "Modules", "libs": libs}


def _load_extension(path: str) -> Any:
    loader = importlib.machinery.ExtensionFileLoader("fusionscript", path)
    spec = importlib.util.spec_from_loader("fusionscript", loader)
    if spec is None:
        raise ImportError(f"no module spec for {path}")
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def load_script_module(paths: Optional[dict] = None, *,
                       load_extension: Callable[[str], Any] = _load_extension) -> Any:
    """The module whose ``scriptapp`` reaches Resolve (fusionscript, or DaVinciResolveScript)."""
    paths = paths or script_paths()
    problems = []
    # The library itself first: DaVinciResolveScript.py of older Resolves imports `imp`,
    # which Python 3.12 removed; loading the library directly is what that module does anyway.
    for lib in paths["libs"]:
        if not os.path.isfile(lib):
            problems.append(f"{lib} (missing)")
            continue
        try:
            return load_extension(lib)
        except (ImportError, OSError) as exc:
            problems.append(f"{lib} ({exc})")
    modules = paths["modules"]
    if os.path.isdir(modules):
        if modules not in sys.path:
            sys.path.append(modules)
        try:
            import DaVinciResolveScript  # type: ignore[import-not-found]
            return DaVinciResolveScript
        except ImportError as exc:
            problems.append(f"DaVinciResolveScript in {modules} ({exc})")
    else:
        problems.append(f"{modules} (missing)")
    raise ResolveConnectError(
        "no_library",
        "genplate could not load Resolve's scripting library (is DaVinci Resolve Studio "
        "installed on this machine?). Tried: " + "; ".join(problems) + ". Set "
        "RESOLVE_SCRIPT_LIB to fusionscript's path (and RESOLVE_SCRIPT_API to Resolve's "
        "Developer/Scripting folder) if Resolve is installed elsewhere.")


def resolve_running(platform: Optional[str] = None,
                    run: Callable[..., Any] = subprocess.run) -> Optional[bool]:
    """Whether a Resolve process exists (None when this system cannot tell)."""
    platform = platform or sys.platform
    try:
        if platform.startswith("linux"):
            for comm in Path("/proc").glob("[0-9]*/comm"):
                try:
                    if comm.read_text().strip().lower() == "resolve":
                        return True
                except OSError:
                    continue
            return False
        if platform.startswith("darwin"):
            done = run(["pgrep", "-x", "Resolve"], capture_output=True, text=True, timeout=5)
            return done.returncode == 0
        if platform.startswith("win"):
            done = run(["tasklist", "/FI", "IMAGENAME eq Resolve.exe", "/NH"],
                       capture_output=True, text=True, timeout=5)
            return "resolve.exe" in (done.stdout or "").lower()
    except (OSError, subprocess.SubprocessError):
        return None
    return None


def is_studio(product: Optional[str]) -> bool:
    return "studio" in (product or "").lower()


def attach(*, product_hint: Optional[str] = None, module: Any = None,
           running: Optional[Callable[[], Optional[bool]]] = None,
           paths: Optional[dict] = None) -> Any:
    """The Resolve object of the running Resolve Studio, or ResolveConnectError saying why not.

    ``product_hint`` is the product name the launcher saw inside Resolve ("DaVinci Resolve
    Studio" / "DaVinci Resolve"); ``running`` checks for the process (tests pass their own).
    """
    if product_hint and not is_studio(product_hint):
        raise ResolveConnectError("free_edition")
    module = module if module is not None else load_script_module(paths)
    resolve = module.scriptapp("Resolve")
    if not resolve:
        if product_hint:
            # The launcher ran inside a Studio: it is running, so scripting must be off.
            raise ResolveConnectError("scripting_off")
        state = (running or resolve_running)()
        if state is False:
            raise ResolveConnectError("not_running")
        if state is True:
            raise ResolveConnectError("scripting_off")
        raise ResolveConnectError("unknown")
    product = resolve.GetProductName()
    if product and not is_studio(product):
        raise ResolveConnectError("free_edition")
    return resolve


def describe(resolve: Any) -> dict:
    """{"product", "version", "studio"} of an attached Resolve."""
    product = resolve.GetProductName() or ""
    return {"product": product, "version": resolve.GetVersionString() or "",
            "studio": is_studio(product)}


__all__ = ["ResolveConnectError", "MESSAGES", "SCRIPTING_PREFERENCE", "script_paths",
           "load_script_module", "resolve_running", "is_studio", "attach", "describe"]
