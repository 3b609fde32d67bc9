"""Attach genplate's own Python to the running DaVinci Resolve (external scripting).

The panel runs outside Resolve, in the engine's Python, so nothing is installed into Resolve's
interpreter (hosts.md §6: the most common Resolve failure). It reaches Resolve the documented
way (Resolve's scripting README; hosts.md §3.1): the ``fusionscript`` library found through
``RESOLVE_SCRIPT_LIB`` (or the per-OS default install path), or the ``DaVinciResolveScript``
module under ``$RESOLVE_SCRIPT_API/Modules``, then ``scriptapp("Resolve")``.

Loading the library can crash the process rather than raise: on Windows ``fusionscript.dll``
loads the Python named by ``FUSION_PYTHON3_HOME``, else one from the registry, and with a
foreign one it dies natively or raises SystemError (Tooflex/davinci-resolve-mcp PR #4,
WheheoHu/pybmd issue #11; hosts.md §9). So genplate points it at the running interpreter, loads
it first in a child process (a crash there cannot take the panel down), and turns any
exception into a ResolveConnectError, whose message the panel shows.

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


# What the child process runs: load the library (argv[1]) or import the module from its folder.
LIBRARY_PROBE = ("import importlib.machinery as m, importlib.util as u, sys\n"
                 "l = m.ExtensionFileLoader('fusionscript', sys.argv[1])\n"
                 "l.exec_module(u.module_from_spec(u.spec_from_loader('fusionscript', l)))\n"
                 "print('genplate-probe-ok')\n")
MODULE_PROBE = ("import sys\nsys.path.append(sys.argv[1])\nimport DaVinciResolveScript\n"
                "print('genplate-probe-ok')\n")


def probe_load(code: str, arg: str, env: dict, *,
               run: Callable[..., Any] = subprocess.run) -> Optional[str]:
    """None when ``code`` loads Resolve's scripting in a child Python; else why not."""
    try:
        done = run([sys.executable, "-c", code, arg], env=env, capture_output=True, text=True,
                   timeout=60, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"the load check could not run: {exc}"
    if done.returncode == 0 and "genplate-probe-ok" in (done.stdout or ""):
        return None
    last = ((done.stderr or "").strip().splitlines() or [""])[-1][:300]
    # A negative code is a signal (POSIX); 0xC0000005 an access violation (Windows).
    crashed = done.returncode < 0 or done.returncode >= 0xC0000000
    return (f"{'crashed' if crashed else 'failed'} loading in a child process "
            f"(exit code {done.returncode}){': ' + last if last else ''}")


def python_home() -> str:
    """The running interpreter's home (its base install, also from a venv): where Windows
    keeps the python3X.dll that fusionscript must load."""
    return sys.base_prefix


def prepare_environment(platform: Optional[str] = None, env: Optional[dict] = None) -> dict:
    """Point fusionscript at this Python before it loads (Windows); returns what was set."""
    platform = platform or sys.platform
    env = os.environ if env is None else env
    if platform.startswith(("win", "cygwin")):
        env["FUSION_PYTHON3_HOME"] = python_home()
        return {"FUSION_PYTHON3_HOME": env["FUSION_PYTHON3_HOME"]}
    return {}


def load_script_module(paths: Optional[dict] = None, *,
                       load_extension: Callable[[str], Any] = _load_extension,
                       probe: Callable[[str, str, dict], Optional[str]] = probe_load,
                       platform: Optional[str] = None, env: Optional[dict] = None) -> Any:
    """The module whose ``scriptapp`` reaches Resolve (fusionscript, or DaVinciResolveScript).

    Each candidate is loaded in a child process first (``probe``), with the same environment;
    only one that loads there is loaded here, and any exception here is a ResolveConnectError.
    """
    paths = paths or script_paths(platform, env)
    environment = os.environ if env is None else env
    prepared = prepare_environment(platform, environment)
    problems, failed = [], False
    # The library itself first: DaVinciResolveScript.py of older Resolves imports `imp`,
    # which Python 3.12 removed; loading the library directly is what that module does anyway.
    for lib in paths["libs"]:
        if not os.path.isfile(lib):
            problems.append(f"{lib} (missing)")
            continue
        failed = True
        problem = probe(LIBRARY_PROBE, lib, dict(environment))
        if problem:
            problems.append(f"{lib} ({problem})")
            continue
        try:
            return load_extension(lib)
        except Exception as exc:  # noqa: BLE001 - SystemError is what a wrong Python raises
            problems.append(f"{lib} ({type(exc).__name__}: {exc})")
    modules = paths["modules"]
    if os.path.isdir(modules):
        failed = True
        problem = probe(MODULE_PROBE, modules, dict(environment))
        if problem:
            problems.append(f"DaVinciResolveScript in {modules} ({problem})")
        else:
            if modules not in sys.path:
                sys.path.append(modules)
            try:
                import DaVinciResolveScript  # type: ignore[import-not-found]
                return DaVinciResolveScript
            except Exception as exc:  # noqa: BLE001
                problems.append(f"DaVinciResolveScript in {modules} ({type(exc).__name__}: "
                                f"{exc})")
    else:
        problems.append(f"{modules} (missing)")
    if failed:
        home = prepared.get("FUSION_PYTHON3_HOME")
        hint = (f"genplate set FUSION_PYTHON3_HOME to this Python ({home}), which "
                f"fusionscript.dll loads; " if home else "")
        raise ResolveConnectError(
            "library_failed",
            "Resolve's scripting library is installed but would not load in genplate's Python. "
            "Tried: " + "; ".join(problems) + f". {hint}Resolve's scripting supports the Python "
            "versions its README names: point genplate at one of those (`genplate install "
            "resolve` from a venv made with it), and on Windows check that FUSION_PYTHON3_HOME "
            "is not set to another Python.")
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
    try:
        resolve = module.scriptapp("Resolve")
        product = resolve.GetProductName() if resolve else None
    except Exception as exc:  # noqa: BLE001 - a broken bridge is a message, never a crash
        raise ResolveConnectError(
            "unknown", f"Resolve's scripting failed while attaching ({type(exc).__name__}: "
                       f"{exc}). {MESSAGES['unknown']}") from exc
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
    if product and not is_studio(product):
        raise ResolveConnectError("free_edition")
    return resolve


def describe(resolve: Any) -> dict:
    """{"product", "version", "studio"} of an attached Resolve."""
    product = resolve.GetProductName() or ""
    return {"product": product, "version": resolve.GetVersionString() or "",
            "studio": is_studio(product)}


__all__ = ["ResolveConnectError", "MESSAGES", "SCRIPTING_PREFERENCE", "script_paths",
           "load_script_module", "probe_load", "prepare_environment", "python_home",
           "LIBRARY_PROBE", "MODULE_PROBE", "resolve_running", "is_studio", "attach", "describe"]
