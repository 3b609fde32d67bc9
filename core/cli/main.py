"""The `genplate` command: the engine's one door, for artists in a terminal and for the hosts.

Every command that a host calls takes ``--json`` and then prints exactly one JSON object on
stdout (``{"error": ...}`` and a non-zero exit on failure); progress bars and notes go to
stderr, so the hosts can parse stdout without guessing. That holds for a mistyped option too:
argparse's errors are raised (``UsageError``) and answered here like any other error.
"""
from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import sys
from typing import Optional

from .. import __version__
from ..jobs import ledger as L
from ..request import RequestError
from . import batches, clean, colour, drafts, farm, generate, hosts, luma, takes
from .output import CommandError, say

# The order of the listing in `genplate --help`: the main job first.
FAMILIES = (generate, clean, takes, luma, colour, drafts, batches, hosts, farm)
USAGE_EXIT = 2
INTERRUPTED_EXIT = 130
# What a shell reports for a command whose reader went away (128 + SIGPIPE).
CLOSED_PIPE_EXIT = 141


class UsageError(Exception):
    """The command line cannot be parsed; ``prog`` is the (sub)command that refused it."""

    def __init__(self, prog: str, message: str) -> None:
        super().__init__(message)
        self.prog = prog


class Parser(argparse.ArgumentParser):
    """argparse, but an error is raised (not a usage wall and an exit), and a value outside
    the choices is answered with the nearest valid one."""

    def error(self, message: str):  # type: ignore[override]
        raise UsageError(self.prog, message)

    def _check_value(self, action: argparse.Action, value) -> None:
        # argparse's own check, with our words: its message lists hidden commands and no hint.
        if action.choices is not None and value not in action.choices:
            # No argument name: the message names the option (or the command) itself.
            raise argparse.ArgumentError(None, not_a_choice(action, value))


def not_a_choice(action: argparse.Action, value) -> str:
    hidden = getattr(action, "hidden_choices", ())
    choices = [str(c) for c in action.choices if c not in hidden]
    near = nearest(str(value), choices)
    if isinstance(action, argparse._SubParsersAction):
        # A near command is the answer; else the whole list, since nothing else was meant.
        return f"no command {value!r}: " + (f"did you mean {near}?" if near
                                             else f"the commands are {_one_of(choices)}")
    option = max(action.option_strings, key=len, default=action.dest)
    return (f"{option} {value}: not one of {_one_of(choices)}"
            + (f"; did you mean {near}?" if near else ""))


def nearest(value: str, choices: list[str]) -> Optional[str]:
    """The choice a typo most likely meant (case does not count), or None."""
    folded = {c.lower(): c for c in choices}
    match = difflib.get_close_matches(value.lower(), list(folded), n=1, cutoff=0.6)
    return folded[match[0]] if match else None


def _one_of(choices: list[str]) -> str:
    return choices[0] if len(choices) == 1 else ", ".join(choices[:-1]) + " or " + choices[-1]


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="genplate",
        description="Luma Ray3 shots as versioned ACES EXR takes for Nuke and Resolve.")
    parser.add_argument("--version", action="version", version=f"genplate {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.hidden_choices = set()

    def command(name: str, handler, help: str, *, json_flag: bool = True) -> argparse.ArgumentParser:
        # A hidden command (the detached worker) is left out of the listing altogether.
        hidden = help == argparse.SUPPRESS
        listed = {} if hidden else {"help": help, "description": help}
        if hidden:
            sub.hidden_choices.add(name)
        p = sub.add_parser(name, **listed)
        if json_flag:
            p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
        p.set_defaults(handler=handler)
        return p

    for family in FAMILIES:
        family.register(command)
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        code = _run(argv)
        sys.stdout.flush()  # here, not at exit: a closed pipe is met at the door, below
        return code
    except BrokenPipeError:
        # The reader went away (`genplate show X | head`): nothing more is wanted, and nothing
        # may be written on the way out either (Python would report the failed final flush).
        _silence(sys.stdout)
        _silence(sys.stderr)
        return CLOSED_PIPE_EXIT


def _run(argv: list[str]) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        return _usage_error(parser, argv, exc)
    try:
        return int(args.handler(args) or 0)
    except (RequestError, CommandError, L.LedgerError) as exc:
        return _fail(args, str(exc))
    except KeyboardInterrupt:
        # Every step leaves the ledger consistent on the way out: say so, no traceback.
        _fail(args, "interrupted; `genplate resume` finishes what was left half-way")
        return INTERRUPTED_EXIT
    except BrokenPipeError:
        raise
    except Exception as exc:
        known = _known_error(exc)
        if known is None:
            raise
        return _fail(args, known)


def wants_json(argv: list[str]) -> bool:
    """--json among the options (not after `--`, where it would be the prompt's text)."""
    options = argv[:argv.index("--")] if "--" in argv else argv
    return "--json" in options


_NOT_A_NUMBER = re.compile(r"argument (?P<option>[^:]+): invalid (?P<type>int|float) value: "
                           r"'(?P<value>.*)'")


def _plain(message: str) -> str:
    """argparse's words, said the way the rest of genplate says them."""
    match = _NOT_A_NUMBER.fullmatch(message)
    if match:
        kind = "a whole number" if match["type"] == "int" else "a number"
        return f"{match['option'].split('/')[-1]} {match['value']}: not {kind}"
    return re.sub(r"^argument ([^:]+): ", lambda m: f"{m[1].split('/')[-1]}: ", message)


def _usage_error(parser: argparse.ArgumentParser, argv: list[str], exc: UsageError) -> int:
    message = _plain(str(exc))
    if message.startswith("unrecognized arguments:"):
        message += _option_hint(parser, argv, message)
    if wants_json(argv):
        sys.stdout.write(json.dumps({"error": f"{exc.prog}: {message}"}) + "\n")
    else:
        say(f"{exc.prog}: {message} (see `{exc.prog} --help`)")
    return USAGE_EXIT


def _option_hint(parser: argparse.ArgumentParser, argv: list[str], message: str) -> str:
    """'; did you mean --resolution?' for a misspelt option of the command given."""
    sub = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
    name = next((a for a in argv if not a.startswith("-")), None)
    if sub is None or name not in sub.choices:
        return ""
    options = [o for a in sub.choices[name]._actions for o in a.option_strings
               if o.startswith("--")]
    for word in message.split(":", 1)[1].split():
        near = nearest(word.split("=", 1)[0], options) if word.startswith("--") else None
        if near:
            return f"; did you mean {near}?"
    return ""


def _known_error(exc: Exception) -> Optional[str]:
    """Errors that carry a message meant for the user (not a bug): report, don't trace."""
    from ..backends.base import BackendError

    names = {"BudgetExceeded", "TakeError", "ArchiveError", "IngestError", "ColourError",
             "ConfigError", "FetchError", "InstallError", "JobError", "CredentialsError",
             "JudgeError", "PromoteError", "DraftsError", "AnnotationError"}
    # By name along the class's ancestry: a subclass (DeliveryDamaged, ArchiveTooLarge,
    # LimitError) is as much meant for the user as the error it refines.
    known = any(cls.__name__ in names for cls in type(exc).__mro__)
    if isinstance(exc, BackendError) or known or isinstance(exc, FileNotFoundError):
        from ..secrets import redact

        return redact(str(exc))
    return None


def _fail(args: argparse.Namespace, message: str) -> int:
    if getattr(args, "json", False):
        sys.stdout.write(json.dumps({"error": message}) + "\n")
    else:
        say(f"genplate: {message}")
    return 2


def _silence(stream) -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # not a real file (a test's capture)
        pass


if __name__ == "__main__":
    sys.exit(main())
