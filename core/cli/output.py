"""How a command answers: one JSON object on stdout under ``--json`` (``{"error": ...}`` and a
non-zero exit on failure), otherwise a human line; notes and progress bars go to stderr, so a
host parses stdout without guessing."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Callable, Optional


class CommandError(RuntimeError):
    """An error the command reports as one line (and as {"error": ...} with --json)."""


def emit(args: argparse.Namespace, payload: dict, human: Callable[[], str]) -> None:
    if getattr(args, "json", False):
        sys.stdout.write(json.dumps(payload, indent=None, default=str) + "\n")
    else:
        text = human()
        if text:
            print(text)


def say(message: str) -> None:
    print(message, file=sys.stderr)


class Bars:
    """One terminal progress bar per job step (tqdm; silent when stderr is not a terminal)."""

    def __init__(self, label: str = "") -> None:
        self.label = label
        self._bar = None
        self._stage: Optional[str] = None

    def __call__(self, done: float, total: float, message: str) -> None:
        from tqdm import tqdm

        stage = message.split(":", 1)[0]
        if stage != self._stage:
            self.close()
            self._stage = stage
            self._bar = tqdm(total=total or None, desc=f"{self.label}{stage}", unit="",
                             leave=False, file=sys.stderr, disable=None, dynamic_ncols=True)
        bar = self._bar
        if bar is None:
            return
        if total and bar.total != total:
            bar.total = total
        bar.n = done
        bar.set_postfix_str(message.split(":", 1)[-1].strip()[:40], refresh=False)
        bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
