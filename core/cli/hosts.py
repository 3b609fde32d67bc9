"""`genplate install nuke|resolve`: put genplate where each host looks for it, without hand edits.

Without ``--dest`` the engine's Python is recorded for this user (every host panel finds it);
with ``--dest`` everything stays in that folder (the init.py block or the launcher names the
engine) and the user's own record is left alone. ``--dry-run`` says what would change.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from .output import emit


def cmd_install(args: argparse.Namespace) -> int:
    record_engine = not args.dest
    if args.host == "nuke":
        from ..install.nuke import install

        result = install(mode=args.mode, nuke_dir=Path(args.dest).expanduser() if args.dest else None,
                         python=args.python, dry_run=args.dry_run, record_engine=record_engine)
        where = result.get("init_py") or result.get("instructions", "")
    else:
        if args.mode != "init":
            from ..install.nuke import InstallError

            raise InstallError("--mode is for nuke; resolve takes --dest, --python and --dry-run")
        from ..install.resolve import install

        result = install(args.dest, python=args.python, record_engine=record_engine,
                         dry_run=args.dry_run)
        where = result["launcher"]
    emit(args, result, lambda: describe_install(args.host, result, where))
    return 0


def describe_install(host: str, result: dict, where: str) -> str:
    dry = result.get("dry_run")
    if result.get("instructions"):  # nothing is installed: the artist sets the path
        lines = [f"genplate for {host}: {result['instructions']}"]
    elif not result["changed"]:
        lines = [f"genplate for {host}: already in place ({where})"]
    elif dry:
        lines = [f"genplate for {host}: would write {where}"]
    else:
        lines = [f"genplate for {host}: installed ({where})"]
    engine = result.get("engine_config")
    if engine:
        lines.append(f"{'would record' if dry else 'recorded'} the engine for this user in {engine}")
    elif result.get("engine"):
        lines.append(f"the engine is named in {result['engine']} (your own engine record is "
                     f"left alone)")
    if dry:
        lines.append("dry run: nothing was changed")
    else:
        lines += result.get("notes", [])
    return "\n".join(lines)


def register(command) -> None:
    p = command("install", cmd_install, "install genplate into Nuke or DaVinci Resolve")
    p.add_argument("host", choices=("nuke", "resolve"), help="the host to install into")
    p.add_argument("--dest", help="nuke: the .nuke folder (default ~/.nuke); resolve: the "
                                  "Fusion/Scripts/Utility folder (default: the OS's). Keeps "
                                  "everything there: the engine is named in that folder, not "
                                  "in your own engine record")
    p.add_argument("--mode", choices=("init", "env"), default="init",
                   help="nuke: add a guarded line to init.py (init), or print the NUKE_PATH to set (env)")
    p.add_argument("--python", help="the Python that runs the engine (default: this one)")
    p.add_argument("--dry-run", action="store_true", help="say what would change, change nothing")
