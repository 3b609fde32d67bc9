"""A shot list: the shots of a sequence, one row each, from a CSV, a JSON list or an OTIO
timeline (timeline.py). The columns, and how each cell is read, are rows.py's.
"""
from __future__ import annotations

import csv
import json
import os
from pathlib import Path

from .rows import ShotListError, ShotRow, check_columns, column_name, row_from_cells

# Bounds on what is read: a shot list is typed by people, not streamed.
MAX_BYTES = 16 * 1024 * 1024
MAX_ROWS = 1024  # an OpenJD step holds at most 1024 tasks


def read_shot_list(path: os.PathLike | str) -> list[ShotRow]:
    """The rows of a CSV, JSON or OTIO shot list (ShotListError names every bad cell)."""
    path = Path(path)
    if not path.is_file():
        raise ShotListError([f"{path}: no such file"])
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise ShotListError([f"{path}: {size} bytes; a shot list is at most {MAX_BYTES} bytes"])
    suffix = path.suffix.lower()
    if suffix == ".csv":
        rows = _read_csv(path)
    elif suffix == ".json":
        rows = _read_json(path)
    elif suffix == ".otio":
        from .timeline import read_timeline

        rows = read_timeline(path)
    else:
        raise ShotListError([f"{path}: a shot list is a .csv, a .json list or an .otio timeline"])
    if not rows:
        raise ShotListError([f"{path}: no shots in it"])
    if len(rows) > MAX_ROWS:
        raise ShotListError([f"{path}: {len(rows)} shots; at most {MAX_ROWS} in one bundle "
                             f"(split the list)"])
    return rows


# -- the formats ---------------------------------------------------------------------------------

def _read_csv(path: Path) -> list[ShotRow]:
    problems: list[str] = []
    rows: list[ShotRow] = []
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None:
                raise ShotListError([f"{path.name}: empty; the first line names the columns"])
            columns = [column_name(h) for h in header]
            problems += check_columns(columns, f"{path.name} line 1")
            if problems:
                raise ShotListError(problems)
            for cells in reader:
                where = f"{path.name} line {reader.line_num}"
                if not any(c.strip() for c in cells):
                    continue
                if len(cells) > len(columns):
                    problems.append(f"{where}: {len(cells)} cells but the header names "
                                    f"{len(columns)} columns (quote a cell that holds a comma)")
                    continue
                rows.append(row_from_cells(where, dict(zip(columns, cells)), path.parent,
                                           problems))
                if len(rows) > MAX_ROWS:
                    break
    except UnicodeDecodeError as exc:
        raise ShotListError([f"{path.name}: not UTF-8 text ({exc.reason}); save it as "
                             f"CSV UTF-8"]) from None
    except csv.Error as exc:
        raise ShotListError([f"{path.name}: not a readable CSV ({exc})"]) from None
    if problems:
        raise ShotListError(problems)
    return rows


def _read_json(path: Path) -> list[ShotRow]:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ShotListError([f"{path.name}: not JSON ({exc})"]) from None
    if isinstance(data, dict) and isinstance(data.get("shots"), list):
        data = data["shots"]
    if not isinstance(data, list):
        raise ShotListError([f"{path.name}: a JSON shot list is a list of shots (or "
                             f'{{"shots": [...]}}), one object per shot'])
    problems: list[str] = []
    rows = []
    for number, item in enumerate(data[:MAX_ROWS + 1], start=1):
        where = f"{path.name} shot {number}"
        if not isinstance(item, dict):
            problems.append(f"{where}: an object with shot, prompt, ... (got {type(item).__name__})")
            continue
        cells = {column_name(str(k)): v for k, v in item.items()}
        problems += check_columns(list(cells), where)
        rows.append(row_from_cells(where, cells, path.parent, problems))
    if problems:
        raise ShotListError(problems)
    return rows


__all__ = ["read_shot_list", "MAX_ROWS", "MAX_BYTES"]
