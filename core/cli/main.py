"""The `genplate` command: the engine's one door, for artists in a terminal and for the hosts.

Every command that a host calls takes ``--json`` and then prints exactly one JSON object on
stdout (``{"error": ...}`` and a non-zero exit on failure); progress bars and notes go to
stderr, so the hosts can parse stdout without guessing.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Optional

from .. import __version__
from ..jobs import ledger as L
from ..request import RequestError
from . import colour, drafts, farm, generate, hosts, luma, takes
from .output import CommandError, say

# The order of the listing in `genplate --help`: the main job first.
FAMILIES = (generate, takes, luma, colour, drafts, hosts, farm)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="genplate",
        description="Luma Ray3 shots as versioned ACES EXR takes for Nuke and Resolve.")
    parser.add_argument("--version", action="version", version=f"genplate {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler, help: str, *, json_flag: bool = True) -> argparse.ArgumentParser:
        # A hidden command (the detached worker) is left out of the listing altogether.
        listed = {} if help == argparse.SUPPRESS else {"help": help, "description": help}
        p = sub.add_parser(name, **listed)
        if json_flag:
            p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
        p.set_defaults(handler=handler)
        return p

    for family in FAMILIES:
        family.register(command)
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except (RequestError, CommandError, L.LedgerError) as exc:
        return _fail(args, str(exc))
    except Exception as exc:
        known = _known_error(exc)
        if known is None:
            raise
        return _fail(args, known)


def _known_error(exc: Exception) -> Optional[str]:
    """Errors that carry a message meant for the user (not a bug): report, don't trace."""
    from ..backends.base import BackendError

    names = {"BudgetExceeded", "TakeError", "ArchiveError", "IngestError", "ColourError",
             "ConfigError", "FetchError", "InstallError", "JobError", "CredentialsError",
             "JudgeError", "PromoteError", "DraftsError", "AnnotationError"}
    if isinstance(exc, BackendError) or type(exc).__name__ in names or isinstance(exc, FileNotFoundError):
        from ..secrets import redact

        return redact(str(exc))
    return None


def _fail(args: argparse.Namespace, message: str) -> int:
    if getattr(args, "json", False):
        sys.stdout.write(json.dumps({"error": message}) + "\n")
    else:
        say(f"genplate: {message}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
