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


# What a step counts, by the runner's stage words: bytes get units, frames are frames; the
# rest (generating) is a fraction, shown as a percentage only.
BYTE_STEPS = ("downloading", "uploading")
FRAME_STEPS = ("ingesting", "judging")


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


class Bars:
    """Progress of a job's steps on stderr.

    On a terminal: one tqdm bar per step (bytes with units for a download). Otherwise (a
    host's log, a farm's): plain lines, one when a step starts and one per 10 % of it, so a
    long step is never silent there and never floods it.
    """

    def __init__(self, label: str = "", *, stream=None) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        try:
            self.live = bool(self.stream.isatty())
        except (AttributeError, ValueError):  # closed or not a real stream
            self.live = False
        self._bar = None
        self._stage: Optional[str] = None
        self._decile = -1

    def __call__(self, done: float, total: float, message: str) -> None:
        stage, _, detail = message.partition(":")
        detail = detail.strip()
        if stage != self._stage:
            self.close()
            self._stage = stage
            self._decile = -1
            if self.live:
                self._bar = self._open(stage, total)
        if self.live:
            self._draw(done, total, detail)
        else:
            self._log(done, total, detail)

    # -- a terminal ---------------------------------------------------------------------

    def _open(self, stage: str, total: float):
        from tqdm import tqdm

        counts = ({"unit": "B", "unit_scale": True, "unit_divisor": 1024} if stage in BYTE_STEPS
                  else {"unit": " frames"} if stage in FRAME_STEPS else {"unit": ""})
        bar_format = None
        if stage not in BYTE_STEPS and stage not in FRAME_STEPS:
            bar_format = "{desc}: {percentage:3.0f}%|{bar}| {elapsed}{postfix}"
        return tqdm(total=total or None, desc=f"{self.label}{stage}", leave=False,
                    file=self.stream, dynamic_ncols=True, bar_format=bar_format, **counts)

    def _draw(self, done: float, total: float, detail: str) -> None:
        bar = self._bar
        if bar is None:
            return
        if total and bar.total != total:
            bar.total = total
        bar.n = done
        bar.set_postfix_str(detail[:40], refresh=False)
        bar.refresh()

    # -- a log ----------------------------------------------------------------------------

    def _log(self, done: float, total: float, detail: str) -> None:
        stage = self._stage or ""
        if total:
            decile = int(10 * min(done, total) / total)
            if decile <= self._decile:
                return
            self._decile = decile
            amount = f" {10 * decile}%"
            if stage in BYTE_STEPS:
                amount += f" ({human_bytes(done)} of {human_bytes(total)})"
            elif stage in FRAME_STEPS:
                amount += f" ({done:.0f} of {total:.0f} frames)"
        elif self._decile >= 0:
            return  # an unknown amount: the step was announced, that is all a log needs
        else:
            self._decile = 0
            amount = ""
        if stage in FRAME_STEPS:
            detail = ""  # "frame 24": the count says it already
        line = f"genplate: {self.label}{stage}{amount}" + (f" {detail}" if detail else "")
        print(line, file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
