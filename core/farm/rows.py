"""A shot list's rows: the columns a shot may set, and each cell read in its column's type.

Columns (a CSV's header, a JSON object's keys): ``shot`` and ``prompt`` are required; every
other column is optional and, where a row leaves it empty, the command line's option stands:

=============  ===========================================================================
name           the take name (default: made from the prompt, as ``genplate generate``)
quality        ``draft`` (360p SDR) or ``master`` (HDR + EXR)
duration       ``5s`` or ``10s``
resolution     ``360p``, ``540p``, ``720p`` or ``1080p``
aspect         ``16:9``, ``21:9``, ...
hdr, exr, loop yes/no, true/false, 1/0
keyframes      ``INDEX=IMAGE`` entries separated by ``;`` (e.g. ``0=kf/a.png; 120=kf/b.png``)
start_frame    an image the shot starts on; ``end_frame``: one it ends on
drafts         how many drafts (2 or more: a judged draft batch, ranked on a contact sheet)
seed           the offline renderer's seed
first_frame    the take's first frame number (default 1001)
=============  ===========================================================================

Image paths are taken relative to the shot list's own folder. A header that starts with ``#``
is a note and is ignored; any other unknown column is refused (a misspelt ``duraton`` must not
silently become a 5 s shot). Every problem names its row and column, and all of them are
reported together, before anything is written or sent.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..request import ASPECT_RATIOS, DURATIONS, RESOLUTIONS
from ..review.drafts import MAX_DRAFTS

REQUIRED = ("shot", "prompt")
TEXT_COLUMNS = ("shot", "prompt", "name")
BOOL_COLUMNS = ("hdr", "exr", "loop")
PATH_COLUMNS = ("start_frame", "end_frame")
CHOICES = {"duration": DURATIONS, "resolution": RESOLUTIONS, "aspect": ASPECT_RATIOS,
           "quality": ("draft", "master")}
INT_COLUMNS = {"drafts": (1, MAX_DRAFTS), "seed": (0, 2 ** 63 - 1), "first_frame": (0, 10 ** 7)}
COLUMNS = (*TEXT_COLUMNS, "quality", "duration", "resolution", "aspect", *BOOL_COLUMNS,
           "keyframes", *PATH_COLUMNS, "drafts", "seed", "first_frame")
_TRUE = {"1", "true", "yes", "y", "on"}
_FALSE = {"0", "false", "no", "n", "off"}


class ShotListError(ValueError):
    """A shot list that cannot be used as it is; every problem names its row and column."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        shown = self.problems[:20]
        more = len(self.problems) - len(shown)
        text = "the shot list has problems; nothing was written or sent:\n  " + "\n  ".join(shown)
        if more > 0:
            text += f"\n  ... and {more} more"
        super().__init__(text)


class BadValue(ValueError):
    """One cell that cannot be read; the caller adds where it is."""


@dataclass
class ShotRow:
    """One shot as the list gives it: parsed values of the columns the row sets."""

    where: str                      # "shots.csv line 4", "cut.otio marker 'sh010' at 00:00:05:00"
    values: dict[str, Any] = field(default_factory=dict)

    def problem(self, column: str | None, message: str) -> str:
        return f"{self.where}, column {column!r}: {message}" if column else f"{self.where}: {message}"

    @property
    def shot(self) -> str:
        return str(self.values.get("shot", ""))


def column_name(header: str) -> str:
    """"Start Frame", "start-frame" and "start_frame" name the same column."""
    return "_".join(header.strip().lower().replace("-", " ").split())


def parse_value(column: str, raw: Any, base: Path) -> Any:
    """A cell's value in the type its column needs; None for an empty cell. Raises BadValue."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    return _PARSERS.get(column, _text)(raw, column, base)


def check_columns(columns: list[str], where: str) -> list[str]:
    problems = []
    unknown = [c for c in columns if c not in COLUMNS and not c.startswith("#")]
    for name in unknown:
        problems.append(f"{where}: column {name!r} is not a shot list column (use "
                        f"{', '.join(COLUMNS)}; start a header with '#' to keep it as a note)")
    for name in REQUIRED:
        if name not in columns:
            problems.append(f"{where}: no {name!r} column (every shot needs a shot and a prompt)")
    seen = set()
    for name in columns:
        if name in seen and not name.startswith("#"):
            problems.append(f"{where}: column {name!r} appears twice")
        seen.add(name)
    return problems


def row_from_cells(where: str, cells: dict[str, Any], base: Path,
                   problems: list[str]) -> ShotRow:
    """Parse a row's cells; each bad cell adds a problem naming the row and its column."""
    row = ShotRow(where)
    for column, raw in cells.items():
        if column.startswith("#") or column not in COLUMNS:
            continue
        try:
            value = parse_value(column, raw, base)
        except BadValue as exc:
            problems.append(row.problem(column, str(exc)))
            continue
        if value is not None:
            row.values[column] = value
    for column in REQUIRED:
        if column not in row.values and not any(p.startswith(f"{where}, column {column!r}")
                                                for p in problems):
            problems.append(row.problem(column, "empty; every shot needs a shot and a prompt"))
    return row


# -- cells ---------------------------------------------------------------------------------------

def _text(raw: Any, column: str, base: Path) -> str:
    if not isinstance(raw, str):
        raise BadValue(f"{raw!r}: text expected")
    return raw.strip()


def _choice(raw: Any, column: str, base: Path) -> str:
    value = str(raw).strip()
    if column == "duration" and value.isdigit():
        value += "s"  # "5" in a spreadsheet means 5 s
    allowed = CHOICES[column]
    if value not in allowed:
        raise BadValue(f"{raw!r} is not allowed: one of {', '.join(allowed)}")
    return value


def _bool(raw: Any, column: str, base: Path) -> bool:
    if isinstance(raw, bool):
        return raw
    word = str(raw).strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise BadValue(f"{raw!r}: yes or no (true/false, 1/0)")


def _int(raw: Any, column: str, base: Path) -> int:
    if isinstance(raw, bool) or not isinstance(raw, (int, str)):
        raise BadValue(f"{raw!r}: a whole number")
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise BadValue(f"{raw!r}: a whole number") from None
    low, high = INT_COLUMNS[column]
    if not low <= value <= high:
        raise BadValue(f"{value}: {low} to {high}")
    return value


def _path(raw: Any, column: str, base: Path) -> str:
    if not isinstance(raw, str):
        raise BadValue(f"{raw!r}: a path to an image")
    if "\n" in raw or "\r" in raw:
        raise BadValue(f"{raw!r}: a path on one line")
    path = Path(os.path.expanduser(raw.strip()))
    path = path if path.is_absolute() else base / path
    if not path.is_file():
        raise BadValue(f"{raw.strip()!r}: no such file ({path})")
    return os.path.abspath(path)


def _keyframes(raw: Any, column: str, base: Path) -> list[tuple[int, str]]:
    """``"0=a.png; 120=b.png"``, or in JSON a list of such strings, of {index, path} objects,
    or an object {"0": "a.png"}."""
    if isinstance(raw, str):
        entries: list[Any] = [e for e in raw.split(";") if e.strip()]
    elif isinstance(raw, dict):
        entries = [f"{k}={v}" for k, v in raw.items()]
    elif isinstance(raw, list):
        entries = raw
    else:
        raise BadValue(f"{raw!r}: INDEX=IMAGE entries separated by ';'")
    keyframes = []
    for entry in entries:
        if isinstance(entry, dict) and {"index", "path"} <= set(entry):
            index, image = entry["index"], entry["path"]
        elif isinstance(entry, str) and "=" in entry:
            index, _, image = entry.partition("=")
        else:
            raise BadValue(f"{entry!r}: INDEX=IMAGE, e.g. 48=frames/kf_048.png")
        try:
            index = int(str(index).strip())
        except ValueError:
            raise BadValue(f"{entry!r}: the index is a frame on the 24 fps grid, e.g. 48") from None
        keyframes.append((index, _path(image, column, base)))
    return keyframes


_PARSERS: dict[str, Callable[[Any, str, Path], Any]] = {
    **{c: _text for c in TEXT_COLUMNS}, **{c: _choice for c in CHOICES},
    **{c: _bool for c in BOOL_COLUMNS}, **{c: _int for c in INT_COLUMNS},
    **{c: _path for c in PATH_COLUMNS}, "keyframes": _keyframes,
}

__all__ = ["ShotRow", "ShotListError", "BadValue", "parse_value", "row_from_cells",
           "check_columns", "column_name", "COLUMNS", "REQUIRED"]
