"""`genplate install nuke|resolve`: put genplate where each host looks for it, without hand edits."""
from __future__ import annotations

import argparse
from pathlib import Path

from .output import emit


def cmd_install(args: argparse.Namespace) -> int:
    if args.host == "nuke":
        from ..install.nuke import install

        result = install(mode=args.mode, nuke_dir=Path(args.dest).expanduser() if args.dest else None,
                         python=args.python, dry_run=args.dry_run)
        where = result.get("init_py") or result.get("instructions", "")
    else:
        if args.mode != "init" or args.dry_run:
            from ..install.nuke import InstallError

            raise InstallError("--mode and --dry-run are for nuke; resolve takes --dest and --python")
        from ..install.resolve import install

        result = install(args.dest, python=args.python)
        where = result["launcher"]

    def human() -> str:
        if result.get("instructions"):  # nothing was installed: the artist sets the path
            lines = [f"genplate for {args.host}: {result['instructions']}"]
        else:
            state = "installed" if result["changed"] else "already in place"
            lines = [f"genplate for {args.host}: {state} ({where})"]
        lines += result.get("notes", [])
        return "\n".join(lines)

    emit(args, result, human)
    return 0


def register(command) -> None:
    p = command("install", cmd_install, "install genplate into Nuke or DaVinci Resolve")
    p.add_argument("host", choices=("nuke", "resolve"), help="the host to install into")
    p.add_argument("--dest", help="nuke: the .nuke folder (default ~/.nuke); resolve: the "
                                  "Fusion/Scripts/Utility folder (default: the OS's)")
    p.add_argument("--mode", choices=("init", "env"), default="init",
                   help="nuke: add a guarded line to init.py (init), or print the NUKE_PATH to set (env)")
    p.add_argument("--python", help="the Python that runs the engine (default: this one)")
    p.add_argument("--dry-run", action="store_true", help="nuke: say what would change, change nothing")
